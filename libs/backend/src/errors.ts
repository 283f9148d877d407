// How a backend failure becomes a ConnectError code, once for every SDK: by HTTP status when the
// service answered, by the socket error when it did not. The code decides whether a request is retried
// (see RETRYABLE), so classification is the one place where "is this worth another try" is decided.

import { Code, ConnectError } from '@stave/core';

/** Codes worth another attempt: the service was unreachable, overloaded, throttling or too slow. */
const RETRYABLE = new Set<Code>([Code.Unavailable, Code.ResourceExhausted, Code.DeadlineExceeded]);

export function isRetryable(code: Code): boolean {
  return RETRYABLE.has(code);
}

/**
 * HTTP status → code. 500 is Unavailable (so retried): S3, GCS and Azure all document their 500s
 * ("InternalError, please try again") as transient. 429 and S3's 503 SlowDown are throttling.
 */
export function codeForStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.InvalidArgument;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.NotFound;
    case 408:
      return Code.DeadlineExceeded;
    case 409:
    case 412:
      return Code.Aborted;
    case 416:
      return Code.OutOfRange;
    case 429:
      return Code.ResourceExhausted;
    case 500:
    case 502:
    case 503:
      return Code.Unavailable;
    case 504:
      return Code.DeadlineExceeded;
    default:
      return status >= 500 ? Code.Unavailable : Code.Unknown;
  }
}

/** Socket-level failures: the request may never have reached the service. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

function errCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; errno?: unknown; cause?: unknown; name?: unknown };
  if (typeof e.code === 'string' && NETWORK_ERRORS.has(e.code)) return e.code;
  if (typeof e.errno === 'string' && NETWORK_ERRORS.has(e.errno)) return e.errno;
  if (e.cause && e.cause !== err) return errCode(e.cause);
  return undefined;
}

export function isNetworkError(err: unknown): boolean {
  if (errCode(err) !== undefined) return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /socket hang up|ECONNRESET|ECONNREFUSED|other side closed|premature close|network error/i.test(msg);
}

export function notFound(backend: string, key: string): ConnectError {
  return new ConnectError(`${backend}: object not found: ${key}`, Code.NotFound);
}

export function outOfRange(backend: string, key: string, offset: number, length: number, size: number | undefined): ConnectError {
  const of = size === undefined ? '' : ` (${size} bytes)`;
  return new ConnectError(`${backend}: range ${offset}+${length} is outside ${key}${of}`, Code.OutOfRange);
}

/** The shared argument check every backend applies before it sends a ranged read. */
export function checkRange(backend: string, key: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw outOfRange(backend, key, offset, length, undefined);
  }
}

/**
 * Wraps an SDK error in a ConnectError with a code, keeping the original as `cause`. `status` is the
 * HTTP status when the service answered; otherwise the error is classified as a network failure
 * (Unavailable) or left Unknown.
 */
export function backendError(backend: string, what: string, err: unknown, status?: number): ConnectError {
  if (err instanceof ConnectError && err.code !== Code.Unknown) return err;
  let code: Code;
  if (status !== undefined && status > 0) code = codeForStatus(status);
  else if (isNetworkError(err)) code = Code.Unavailable;
  else code = Code.Unknown;
  const detail = err instanceof Error ? err.message : String(err);
  const st = status !== undefined && status > 0 ? ` (HTTP ${status})` : '';
  return new ConnectError(`${backend}: ${what} failed${st}: ${detail.split('\n')[0]}`, code, undefined, undefined, err);
}
