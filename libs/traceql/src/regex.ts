// TraceQL regexes are Go RE2 syntax, fully anchored (Tempo 2.7 and later: `=~ "GET"` is `^(?s:GET)$`,
// as Prometheus matches labels). JavaScript's engine accepts the RE2 subset real queries use; the few
// RE2 spellings it lacks are rewritten here: leading flag groups `(?i)`/`(?s)`/`(?m)`, named groups
// `(?P<name>...)` and POSIX classes `[[:alpha:]]`. Compiled with the `u` flag, so invalid escapes fail
// as they do in RE2 instead of matching literally.

import { invalid } from './errors';

export interface CompiledRegex {
  test(s: string): boolean;
}

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Compiles a TraceQL regex; an invalid one throws an INVALID_QUERY error that names the pattern. */
export function compileRegex(pattern: string): CompiledRegex {
  let body = pattern;
  let flags = 'su';
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead !== null) {
    if (lead[1]!.includes('U')) throw invalid(`invalid regex: "${pattern}": the non-greedy flag (?U) is not supported`);
    if (lead[1]!.includes('i')) flags += 'i';
    if (lead[1]!.includes('m')) flags += 'm';
    body = body.slice(lead[0].length);
  }
  body = body.replace(/\(\?P</g, '(?<').replace(/\[:(\^?)([a-z]+):\]/g, (m, neg: string, name: string) => {
    const cls = POSIX[name];
    if (cls === undefined) return m;
    return neg === '' ? cls : `^${cls}`;
  });
  try {
    const re = new RegExp(`^(?:${body})$`, flags);
    return { test: (s) => re.test(s) };
  } catch (e) {
    const reason =
      String((e as Error).message)
        .split(': ')
        .pop() ?? 'invalid';
    throw invalid(`invalid regex: "${pattern}": ${reason.toLowerCase()}`);
  }
}
