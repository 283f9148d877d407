// One error type for the whole system: Connect's ConnectError, with its closed set of codes. Errors that
// cross an RPC keep their code; HTTP handlers map the code to a status with the one table below.
// Classify errors by code (`codeOf`), never by class.

import { Code, ConnectError } from '@connectrpc/connect';

export { Code, ConnectError };

const HTTP_STATUS: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

export function httpStatusOf(code: Code): number {
  return HTTP_STATUS[code];
}

export function codeOf(err: unknown): Code {
  return ConnectError.from(err).code;
}

/** Shorthands that read like the sentence they produce. */
export const errors = {
  invalid: (msg: string) => new ConnectError(msg, Code.InvalidArgument),
  notFound: (msg: string) => new ConnectError(msg, Code.NotFound),
  exhausted: (msg: string) => new ConnectError(msg, Code.ResourceExhausted),
  unavailable: (msg: string) => new ConnectError(msg, Code.Unavailable),
  unauthenticated: (msg: string) => new ConnectError(msg, Code.Unauthenticated),
  internal: (msg: string) => new ConnectError(msg, Code.Internal),
};
