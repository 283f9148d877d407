// The TraceQL lexer, following the token rules of Tempo v2.7's lexer (the version this package follows):
// Go text/scanner tokens (identifiers, ints, floats, "strings" with Go escapes, `raw strings`, comments),
// multi-character operators found by extending a token while the longer text is still a known token,
// durations written as a number with a unit (`10ms`, `1.5s`, `1h30m`, `2d`), and attribute names read
// raw after a scope (`.`, `span.`, `resource.`, `parent.`, `event.`, `link.`, `instrumentation.`) up to a
// space or one of `{}()=~!<>&|^,`, with "quoted" parts allowed (`span."http status"`).
//
// Positions are what Tempo reports: the 1-based line and column (in code points) where Go's scanner last
// started a token. Tempo's lexer reads the rest of a multi-character operator (`&&`, `span.`), a duration
// unit and attribute names with Scanner.Next, which zeroes the line, so errors at such tokens say
// `line 0` (`parse error at line 0, col 8: syntax error: unexpected &&, expecting with`); an attribute
// name and its END_ATTRIBUTE marker carry the column of the scope before them.

import { TraceQLParseError } from './errors';

export type TokenType =
  | 'IDENTIFIER'
  | 'STRING'
  | 'INTEGER'
  | 'FLOAT'
  | 'DURATION'
  | 'END_ATTRIBUTE'
  | 'EOF'
  // every other token is named by its text (`{`, `&&`, `span.`, `count`, ...), as Tempo prints them
  | string;

export interface Token {
  readonly type: TokenType;
  /** The identifier or unquoted string; the number for INTEGER/FLOAT; nanoseconds for DURATION. */
  readonly value: string | number;
  readonly line: number;
  readonly col: number;
}

/** Tokens spelled by their text. Keywords among them are reserved: `name`, `status`, `count`, ... */
const TOKENS = new Set<string>([
  ',', '.', '{', '}', '(', ')', '=', '!=', '=~', '!~', '>', '>=', '<', '<=', '+', '-', '/', '%', '*', '^',
  'true', 'false', 'nil', 'ok', 'error', 'unset', 'unspecified', 'internal', 'server', 'client', 'producer', 'consumer',
  '&&', '||', '!', '|', '>>', '<<', '~', '!>', '!<', '!>>', '!<<', '&~', '&>', '&<', '&>>', '&<<',
  'duration', 'childCount', 'name', 'status', 'statusMessage', 'kind', 'rootName', 'rootServiceName', 'rootService',
  'traceDuration', 'nestedSetLeft', 'nestedSetRight', 'nestedSetParent', 'id', 'traceID', 'spanID', 'timeSinceStart',
  'version', 'parent', 'parent.', 'resource.', 'span.', 'trace:', 'span:', 'event:', 'link:', 'instrumentation:',
  'event.', 'link.', 'instrumentation.', 'count', 'avg', 'max', 'min', 'sum', 'by', 'coalesce', 'select', 'rate',
  'count_over_time', 'min_over_time', 'max_over_time', 'avg_over_time', 'quantile_over_time', 'histogram_over_time',
  'compare', 'with',
]); // prettier-ignore

const ATTRIBUTE_SCOPES = new Set(['.', 'span.', 'resource.', 'parent.', 'event.', 'link.', 'instrumentation.']);
const ATTRIBUTE_ENDERS = new Set(['{', '}', '(', ')', '=', '~', '!', '<', '>', '&', '|', '^', ',']);
const DURATION_RUNES = new Set(['n', 's', 'u', 'm', 'h', 'µ', 'd', 'w', 'y']);

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/u.test(c);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isIdentStart = (c: string | undefined): boolean => c !== undefined && (c === '_' || /\p{L}/u.test(c));
const isIdentRune = (c: string | undefined): boolean => c !== undefined && (c === '_' || /[\p{L}\p{Nd}]/u.test(c));
const isAttributeRune = (c: string | undefined): boolean => c !== undefined && !isSpace(c) && !ATTRIBUTE_ENDERS.has(c);

/** Splits a query into tokens; the last one is always EOF. Throws TraceQLParseError on a lexical error. */
export function tokenize(query: string): Token[] {
  return new Lexer(query).all();
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  private line = 1;
  private col = 1;
  private readonly tokens: Token[] = [];
  private parsingAttribute = false;
  private currentScope = '';

  constructor(query: string) {
    this.chars = Array.from(query);
  }

  all(): Token[] {
    for (;;) {
      const t = this.next();
      this.tokens.push(t);
      if (t.type === 'EOF') return this.tokens;
    }
  }

  private peek(offset = 0): string | undefined {
    return this.chars[this.pos + offset];
  }

  private advance(): string {
    const c = this.chars[this.pos++]!;
    if (c === '\n') {
      this.line++;
      this.col = 1;
    } else {
      this.col++;
    }
    return c;
  }

  private fail(msg: string): never {
    const p = this.pos0();
    throw new TraceQLParseError(msg, p.line, p.col);
  }

  /** Where Go's Scanner.Scan last started a token; `line` becomes 0 once Scanner.Next has been used since. */
  private scanLine = 1;
  private scanCol = 1;
  private nextUsed = false;

  private pos0(): { line: number; col: number } {
    return { line: this.nextUsed ? 0 : this.scanLine, col: this.scanCol };
  }

  /** Scanner.Scan: a token starts here. At the end of input after a newline Go reports the previous line. */
  private startToken(): void {
    this.nextUsed = false;
    if (this.pos === 0 && this.peek() === undefined) {
      this.scanLine = 0;
      this.scanCol = 0;
    } else if (this.peek() === undefined && this.chars[this.pos - 1] === '\n') {
      this.scanLine = this.line - 1;
      let n = 0;
      for (let k = this.pos - 2; k >= 0 && this.chars[k] !== '\n'; k--) n++;
      this.scanCol = n + 1;
    } else {
      this.scanLine = this.line;
      this.scanCol = this.col;
    }
  }

  private token(type: string, value: string | number): Token {
    return { type, value, ...this.pos0() };
  }

  private next(): Token {
    if (this.parsingAttribute && !isAttributeRune(this.peek())) {
      this.parsingAttribute = false;
      return this.token('END_ATTRIBUTE', '');
    }
    if (this.parsingAttribute) {
      const scope = this.tryNestedScope();
      if (scope !== undefined) return this.token(scope, scope);
      const name = this.attributeName();
      return this.token('IDENTIFIER', name);
    }

    this.skipSpaceAndComments();
    this.startToken();
    const c = this.peek();
    if (c === undefined) return this.token('EOF', '');
    if (c === '"' || c === '`') return this.token('STRING', this.string());
    if (isDigit(c) || (c === '.' && isDigit(this.peek(1)))) return this.number();

    let text: string;
    if (isIdentStart(c)) {
      text = '';
      while (isIdentRune(this.peek())) text += this.advance();
    } else {
      text = this.advance();
    }
    // extend with the following characters while the longer text is a known token (`!` `>` `>` → `!>>`)
    let multi: string | undefined;
    for (let candidate = text + (this.peek() ?? ''); this.peek() !== undefined && TOKENS.has(candidate);) {
      multi = candidate;
      this.advance();
      this.nextUsed = true;
      candidate = multi + (this.peek() ?? '');
    }
    const tok = multi ?? (TOKENS.has(text) ? text : undefined);
    if (tok === undefined) return this.token('IDENTIFIER', text);
    if (tok.endsWith('.') || tok.endsWith(':')) this.currentScope = tok;
    this.parsingAttribute = ATTRIBUTE_SCOPES.has(tok);
    return this.token(tok, tok);
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.peek();
      if (isSpace(c)) {
        this.advance();
      } else if (c === '/' && this.peek(1) === '/') {
        while (this.peek() !== undefined && this.peek() !== '\n') this.advance();
      } else if (c === '/' && this.peek(1) === '*') {
        this.advance();
        this.advance();
        while (!(this.peek() === '*' && this.peek(1) === '/')) {
          if (this.peek() === undefined) this.fail('comment not terminated');
          this.advance();
        }
        this.advance();
        this.advance();
      } else {
        return;
      }
    }
  }

  /** After `parent.` Tempo accepts a second scope: `parent.span.x`, `parent.resource.x`. */
  private tryNestedScope(): string | undefined {
    if (this.currentScope !== 'parent.') return undefined;
    for (const scope of ['span.', 'resource.']) {
      if (this.chars.slice(this.pos, this.pos + scope.length).join('') === scope) {
        for (let i = 0; i < scope.length; i++) this.advance();
        this.nextUsed = true;
        this.currentScope = scope;
        return scope;
      }
    }
    return undefined;
  }

  private attributeName(): string {
    let name = '';
    for (let c = this.peek(); c !== undefined; c = this.peek()) {
      this.nextUsed = true;
      if (c === '"') {
        this.advance();
        for (;;) {
          const q = this.peek();
          if (q === undefined) this.fail('unexpected EOF, expecting "');
          this.advance();
          if (q === '"') break;
          if (q === '\\') {
            const e = this.peek();
            if (e !== '"' && e !== '\\') this.fail('invalid escape sequence');
            name += this.advance();
          } else {
            name += q;
          }
        }
      } else if (isAttributeRune(c)) {
        name += this.advance();
      } else {
        break;
      }
    }
    return name;
  }

  private string(): string {
    const quote = this.advance();
    if (quote === '`') {
      let s = '';
      for (;;) {
        const c = this.peek();
        if (c === undefined) this.fail('literal not terminated');
        this.advance();
        if (c === '`') return s.replace(/\r/g, '');
        s += c;
      }
    }
    let s = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '\n') this.fail('literal not terminated');
      this.advance();
      if (c === '"') return s;
      if (c !== '\\') {
        s += c;
        continue;
      }
      s += this.escape();
    }
  }

  /** Go's string escapes: \a \b \f \n \r \t \v \\ \" \' \ooo \xHH \uHHHH \UHHHHHHHH. */
  private escape(): string {
    const e = this.peek();
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };
    if (e !== undefined && simple[e] !== undefined) {
      this.advance();
      return simple[e]!;
    }
    const hexDigits = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexDigits > 0) {
      this.advance();
      let hex = '';
      for (let i = 0; i < hexDigits; i++) hex += this.peek(i) ?? '';
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexDigits) this.fail('invalid syntax');
      for (let i = 0; i < hexDigits; i++) this.advance();
      const code = parseInt(hex, 16);
      if (e === 'x') return String.fromCharCode(code); // a byte: exact for ASCII, Latin-1 otherwise
      if (code > 0x10ffff || (code >= 0xd800 && code < 0xe000)) this.fail('invalid syntax');
      return String.fromCodePoint(code);
    }
    if (e !== undefined && e >= '0' && e <= '7') {
      const oct = this.chars.slice(this.pos, this.pos + 3).join('');
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) this.fail('invalid syntax');
      for (let i = 0; i < 3; i++) this.advance();
      return String.fromCharCode(parseInt(oct, 8));
    }
    return this.fail('invalid char escape');
  }

  private number(): Token {
    let text = '';
    let isFloat = false;
    if (this.peek() === '0' && (this.peek(1) === 'x' || this.peek(1) === 'X')) {
      text = this.advance() + this.advance();
      while (/[0-9a-fA-F_]/.test(this.peek() ?? '')) text += this.advance();
      return this.token('INTEGER', parseInt(text.slice(2).replace(/_/g, ''), 16));
    }
    while (isDigit(this.peek()) || this.peek() === '_') text += this.advance();
    if (this.peek() === '.') {
      isFloat = true;
      text += this.advance();
      while (isDigit(this.peek())) text += this.advance();
    }
    if ((this.peek() === 'e' || this.peek() === 'E') && (isDigit(this.peek(1)) || ((this.peek(1) === '+' || this.peek(1) === '-') && isDigit(this.peek(2))))) {
      isFloat = true;
      text += this.advance() + this.advance();
      while (isDigit(this.peek())) text += this.advance();
    }
    // a number directly followed by unit characters is a duration when the whole text parses as one
    let rest = '';
    for (let i = 0; ; i++) {
      const c = this.peek(i);
      if (c === undefined || isSpace(c) || !(isDigit(c) || DURATION_RUNES.has(c) || c === '.')) break;
      rest += c;
    }
    if (rest.length > 0) {
      const ns = parseDuration(text + rest);
      if (ns !== undefined) {
        for (let i = 0; i < Array.from(rest).length; i++) this.advance();
        this.nextUsed = true;
        return this.token('DURATION', ns);
      }
    }
    const clean = text.replace(/_/g, '');
    if (isFloat) return this.token('FLOAT', parseFloat(clean));
    // Go's scanner reads a leading 0 as octal
    const n = clean.length > 1 && clean.startsWith('0') ? parseInt(clean, 8) : parseInt(clean, 10);
    return this.token('INTEGER', n);
  }
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  d: 86400e9,
  w: 7 * 86400e9,
  y: 365 * 86400e9,
};

/**
 * Parses a duration as Tempo does: first Prometheus' form (integer amounts of y w d h m s ms, each unit at
 * most once, largest first), then Go's time.ParseDuration (decimal amounts of h m s ms us µs ns). Returns
 * nanoseconds, or undefined when neither accepts the text.
 */
export function parseDuration(text: string): number | undefined {
  const prom = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
  if (prom !== null && text !== '' && text !== '0') {
    const units = [UNIT_NS.y!, UNIT_NS.w!, UNIT_NS.d!, UNIT_NS.h!, UNIT_NS.m!, UNIT_NS.s!, UNIT_NS.ms!];
    let ns = 0;
    for (let i = 0; i < units.length; i++) if (prom[i + 1] !== undefined) ns += Number(prom[i + 1]) * units[i]!;
    return ns;
  }
  if (text === '0') return 0;
  const part = /(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/gy;
  let ns = 0;
  let pos = 0;
  for (let m = part.exec(text); m !== null; m = part.exec(text)) {
    if (m[1] === '' || m[1] === '.') return undefined;
    ns += Number(m[1]) * UNIT_NS[m[2]!]!;
    pos = part.lastIndex;
  }
  return pos === text.length && pos > 0 ? Math.round(ns) : undefined;
}
