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

/** Longest error message a client is sent (a deeply nested input must not be echoed back in kilobytes). */
export const MAX_ERROR_MESSAGE_CHARS = 256;

/** An absolute file path of two segments or more (`/var/tempo/wal/t1`), as system errors spell them. */
const FILE_PATH = /(?<![\w.:])\/(?:[^\s'"`/:,;()[\]{}<>]+\/)+[^\s'"`/:,;()[\]{}<>]*/g;

/**
 * What a client is told about an error, given the status it is answered with: the first line (never a
 * stack trace), at most MAX_ERROR_MESSAGE_CHARS characters (an ellipsis marks a cut) and, for server-side
 * failures (5xx), no file paths of this machine. The full error belongs in the log.
 */
export function publicMessage(message: string, status: number): string {
  let m = message;
  const stack = m.search(/\n\s+at /);
  if (stack >= 0) m = m.slice(0, stack);
  if (status >= 500) m = m.replace(FILE_PATH, '<path>');
  return truncateMessage(m);
}

/** Caps a message at MAX_ERROR_MESSAGE_CHARS characters, marking the cut with an ellipsis. */
export function truncateMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE_CHARS) return message;
  return message.slice(0, MAX_ERROR_MESSAGE_CHARS - 1) + '…';
}

/**
 * The message of an error answered over the wire: a ConnectError's own message; for anything else (a bug, a
 * system error) a fixed sentence, since its text was never meant for a client.
 */
export function publicErrorMessage(err: unknown, status: number): string {
  const ce = ConnectError.from(err);
  if (ce.code === Code.Unknown && !(err instanceof ConnectError)) return 'internal error (details are in the server log)';
  return publicMessage(ce.rawMessage, status);
}

/** The error as a gRPC/Connect client is sent it: same code and metadata, message as publicErrorMessage. */
export function toPublicConnectError(err: unknown): ConnectError {
  const ce = ConnectError.from(err);
  const message = publicErrorMessage(err, httpStatusOf(ce.code));
  if (message === ce.rawMessage) return ce;
  return new ConnectError(message, ce.code, ce.metadata);
}
