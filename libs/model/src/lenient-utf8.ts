// Stave's one rule for invalid UTF-8 in every receiver (docs/limits.md): each ill-formed sequence in a string
// becomes U+FFFD and the batch is kept, as the OpenTelemetry Collector's and Tempo's JSON output show it.
// protobuf-es decodes strings with a fatal decoder; these helpers swap in a replacing one.

import { fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { configureTextEncoding, getTextEncoding } from '@bufbuild/protobuf/wire';

const replacing = new TextDecoder('utf-8', { ignoreBOM: true });

/** fromBinary with invalid UTF-8 in string fields replaced by U+FFFD (instead of an exception). */
export function fromBinaryLenientUtf8<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  const strict = getTextEncoding();
  // protobuf-es reads the decoder when it creates its reader; decoding is synchronous, so nothing else
  // decodes while the replacing decoder is in place.
  configureTextEncoding({ ...strict, decodeUtf8: (b) => replacing.decode(b) });
  try {
    return fromBinary(schema, bytes);
  } finally {
    configureTextEncoding(strict);
  }
}

/**
 * Makes every protobuf-es decode in this process replace invalid UTF-8 (for decoders that are not ours to
 * call, as Connect's for the Jaeger gRPC receiver). Idempotent.
 */
export function decodeProtobufStringsLeniently(): void {
  const current = getTextEncoding();
  configureTextEncoding({ ...current, decodeUtf8: (b) => replacing.decode(b) });
}
