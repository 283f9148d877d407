// What both OTLP receivers share: endpoint parsing; bounded decompression lives in ../http-body.

import { parseEndpoint, type Endpoint } from '../endpoint';

export { BadEncodingError, BodyTooLargeError, inflateBounded, type ContentCoding } from '../http-body';

export type OtlpEndpoint = Endpoint;

/** parseEndpoint, with errors that name the OTLP receiver ("invalid OTLP receiver endpoint ..."). */
export function parseOtlpEndpoint(endpoint: string): OtlpEndpoint {
  return parseEndpoint(endpoint, 'OTLP receiver endpoint');
}
