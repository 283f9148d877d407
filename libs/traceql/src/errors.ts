// Errors of the TraceQL package. Each is the project's one error type, a ConnectError with code
// InvalidArgument (HTTP 400: every one is the query's fault), whose rawMessage is Tempo's text; `reason`
// tells the three kinds apart (classify by code and reason, never by class).

import { Code, ConnectError } from '@stave/core';

export type TraceQLErrorReason =
  /** The query does not parse: position and what was found, in Tempo's wording. */
  | 'PARSE_ERROR'
  /** The query parses but is ill-typed or names a regex that does not compile (Tempo's validate step). */
  | 'INVALID_QUERY'
  /** Valid TraceQL that Tempo itself rejects as "not yet supported" (and so does Stave). */
  | 'UNSUPPORTED';

export class TraceQLError extends ConnectError {
  constructor(
    readonly reason: TraceQLErrorReason,
    message: string,
  ) {
    super(message, Code.InvalidArgument);
    this.name = 'TraceQLError';
  }
}

/** `parse error at line 1, col 12: syntax error: unexpected IDENTIFIER`, as Tempo prints its parse errors. */
export class TraceQLParseError extends TraceQLError {
  constructor(
    readonly detail: string,
    readonly line: number,
    readonly col: number,
  ) {
    super('PARSE_ERROR', line === 0 && col === 0 ? `parse error : ${detail}` : `parse error at line ${line}, col ${col}: ${detail}`);
  }
}

export const unsupported = (feature: string): TraceQLError => new TraceQLError('UNSUPPORTED', `${feature} not yet supported`);
export const invalid = (message: string): TraceQLError => new TraceQLError('INVALID_QUERY', message);

const REASONS = new Set<string>(['PARSE_ERROR', 'INVALID_QUERY', 'UNSUPPORTED']);
/** True for errors of this package, told apart by their reason. */
export const isTraceQLError = (e: unknown): e is TraceQLError => typeof e === 'object' && e !== null && REASONS.has(String((e as { reason?: unknown }).reason));
