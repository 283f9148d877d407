// The TraceQL lexer, following the token rules of Tempo v2.7's lexer (the version this package follows):
// Go text/scanner tokens (identifiers, ints, floats, "strings" with Go escapes, `raw strings`, comments),
// multi-character operators found by extending a token while the longer text is still a known token,
// durations written as a number with a unit (`10ms`, `1.5s`, `1h30m`, `2d`), and attribute names read
// raw after a scope (`.`, `span.`, `resource.`, `parent.`, `event.`, `link.`, `instrumentation.`) up to a
// space or one of `{}()=~!<>&|^,`, with "quoted" parts allowed (`span."http status"`).
//
// Positions are 1-based line and column (in code points) of the token start, as Go's scanner reports
// them; an attribute name and its END_ATTRIBUTE marker carry the position of the scope before them,
// because Tempo's lexer reads them without moving the scanner's token position.

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

  private fail(msg: string, line: number, col: number): never {
    throw new TraceQLParseError(msg, line, col);
  }

  /** The position of the last scanned (non-attribute) token. */
  private lastPos(): { line: number; col: number } {
    for (let i = this.tokens.length - 1; i >= 0; i--) {
      const t = this.tokens[i]!;
      if (t.type !== 'END_ATTRIBUTE' && !(t.type === 'IDENTIFIER' && this.isAttributeName(i))) return t;
    }
    return { line: 1, col: 1 };
  }

  private isAttributeName(i: number): boolean {
    const prev = this.tokens[i - 1];
    return prev !== undefined && ATTRIBUTE_SCOPES.has(String(prev.type));
  }

  private next(): Token {
    if (this.parsingAttribute && !isAttributeRune(this.peek())) {
      this.parsingAttribute = false;
      const p = this.lastPos();
      return { type: 'END_ATTRIBUTE', value: '', line: p.line, col: p.col };
    }
    if (this.parsingAttribute) {
      const p = this.lastPos();
      const scope = this.tryNestedScope();
      if (scope !== undefined) return { type: scope, value: scope, line: p.line, col: p.col };
      return { type: 'IDENTIFIER', value: this.attributeName(p), line: p.line, col: p.col };
    }

    this.skipSpaceAndComments();
    const line = this.line;
    const col = this.col;
    const c = this.peek();
    if (c === undefined) {
      // Go's scanner reports EOF at the position after the input, or 0:0 when nothing was read at all.
      return this.pos === 0 ? { type: 'EOF', value: '', line: 0, col: 0 } : { type: 'EOF', value: '', line, col };
    }
    if (c === '"' || c === '`') return { type: 'STRING', value: this.string(line, col), line, col };
    if (isDigit(c) || (c === '.' && isDigit(this.peek(1)))) return this.number(line, col);

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
      candidate = multi + (this.peek() ?? '');
    }
    const tok = multi ?? (TOKENS.has(text) ? text : undefined);
    if (tok === undefined) return { type: 'IDENTIFIER', value: text, line, col };
    if (tok.endsWith('.') || tok.endsWith(':')) this.currentScope = tok;
    this.parsingAttribute = ATTRIBUTE_SCOPES.has(tok);
    return { type: tok, value: tok, line, col };
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.peek();
      if (isSpace(c)) {
        this.advance();
      } else if (c === '/' && this.peek(1) === '/') {
        while (this.peek() !== undefined && this.peek() !== '\n') this.advance();
      } else if (c === '/' && this.peek(1) === '*') {
        const line = this.line;
        const col = this.col;
        this.advance();
        this.advance();
        while (!(this.peek() === '*' && this.peek(1) === '/')) {
          if (this.peek() === undefined) this.fail('comment not terminated', line, col);
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
        this.currentScope = scope;
        return scope;
      }
    }
    return undefined;
  }

  private attributeName(p: { line: number; col: number }): string {
    let name = '';
    for (let c = this.peek(); c !== undefined; c = this.peek()) {
      if (c === '"') {
        this.advance();
        for (;;) {
          const q = this.peek();
          if (q === undefined) this.fail('unexpected EOF, expecting "', p.line, p.col);
          this.advance();
          if (q === '"') break;
          if (q === '\\') {
            const e = this.peek();
            if (e !== '"' && e !== '\\') this.fail('invalid escape sequence', p.line, p.col);
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

  private string(line: number, col: number): string {
    const quote = this.advance();
    if (quote === '`') {
      let s = '';
      for (;;) {
        const c = this.peek();
        if (c === undefined) this.fail('literal not terminated', line, col);
        this.advance();
        if (c === '`') return s.replace(/\r/g, '');
        s += c;
      }
    }
    let s = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '\n') this.fail('literal not terminated', line, col);
      this.advance();
      if (c === '"') return s;
      if (c !== '\\') {
        s += c;
        continue;
      }
      s += this.escape(line, col);
    }
  }

  /** Go's string escapes: \a \b \f \n \r \t \v \\ \" \' \ooo \xHH \uHHHH \UHHHHHHHH. */
  private escape(line: number, col: number): string {
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
      for (let i = 0; i < hexDigits; i++) hex += this.peek() ?? '';
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexDigits) this.fail('invalid syntax', line, col);
      for (let i = 0; i < hexDigits; i++) this.advance();
      const code = parseInt(hex, 16);
      if (e === 'x') return String.fromCharCode(code); // a byte: exact for ASCII, Latin-1 otherwise
      if (code > 0x10ffff || (code >= 0xd800 && code < 0xe000)) this.fail('invalid syntax', line, col);
      return String.fromCodePoint(code);
    }
    if (e !== undefined && e >= '0' && e <= '7') {
      const oct = this.chars.slice(this.pos, this.pos + 3).join('');
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) this.fail('invalid syntax', line, col);
      for (let i = 0; i < 3; i++) this.advance();
      return String.fromCharCode(parseInt(oct, 8));
    }
    return this.fail('invalid char escape', line, col);
  }

  private number(line: number, col: number): Token {
    let text = '';
    let isFloat = false;
    if (this.peek() === '0' && (this.peek(1) === 'x' || this.peek(1) === 'X')) {
      text = this.advance() + this.advance();
      while (/[0-9a-fA-F_]/.test(this.peek() ?? '')) text += this.advance();
      return { type: 'INTEGER', value: parseInt(text.slice(2).replace(/_/g, ''), 16), line, col };
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
        return { type: 'DURATION', value: ns, line, col };
      }
    }
    const clean = text.replace(/_/g, '');
    if (isFloat) return { type: 'FLOAT', value: parseFloat(clean), line, col };
    // Go's scanner reads a leading 0 as octal
    const n = clean.length > 1 && clean.startsWith('0') ? parseInt(clean, 8) : parseInt(clean, 10);
    return { type: 'INTEGER', value: n, line, col };
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
