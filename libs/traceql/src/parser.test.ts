import { Code } from '@stave/core';
import { compileQuery, parse, parseDuration, rootToString, tokenize, type RootExpr, type TraceQLError } from '@stave/traceql';

/** Parses and prints the tree the way Tempo's stringer does: the parentheses show the shape. */
const shape = (q: string): string => rootToString(parse(q));

const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as TraceQLError).rawMessage;
  }
  return 'no error';
};

describe('parse: valid queries and the tree they make', () => {
  test.each([
    // filters, scopes, intrinsics
    ['{ }', '{ true }'],
    ['{ .a = 1 }', '{ .a = 1 }'],
    ['{ span.http.status_code >= 500 }', '{ span.http.status_code >= 500 }'],
    ['{ resource.service.name="cart"}', '{ resource.service.name = `cart` }'],
    ['{ span."http status" = "x" }', '{ span.http status = `x` }'],
    ['{ span."a\\"b".c = 1 }', '{ span.a"b.c = 1 }'],
    ['{ .a+1 = 2 }', '{ .a+1 = 2 }'], // attribute names run to a space or one of {}()=~!<>&|^, as in Tempo
    ['{ name = "GET /" && status = error && kind = server }', '{ ((name = `GET /`) && (status = error)) && (kind = server) }'],
    ['{ statusMessage =~ "time.*" }', '{ statusMessage =~ `time.*` }'],
    ['{ traceDuration > 1s || rootName != "x" || rootServiceName = "y" }', '{ ((traceDuration > 1s) || (rootName != `x`)) || (rootServiceName = `y`) }'],
    ['{ trace:duration > 2s && trace:rootName = "a" && trace:rootService = "b" }', '{ ((traceDuration > 2s) && (rootName = `a`)) && (rootServiceName = `b`) }'],
    [
      '{ span:name = "a" && span:kind = client && span:status = ok && span:duration < 1ms }',
      '{ (((name = `a`) && (kind = client)) && (status = ok)) && (duration < 1ms) }',
    ],
    ['{ event:name = "exception" && event.exception.type = "E" }', '{ (event:name = `exception`) && (event.exception.type = `E`) }'],
    ['{ link:traceID != nil && link.x = 1 }', '{ (link:traceID != nil) && (link.x = 1) }'],
    ['{ instrumentation:name = "a" && instrumentation.x = true }', '{ (instrumentation:name = `a`) && (instrumentation.x = true) }'],
    ['{ trace:id = "abc" && span:id = "def" }', '{ (trace:id = `abc`) && (span:id = `def`) }'],
    // statics
    ['{ .a = 1.5 && .b = -2 && .c = -2.5 && .d = nil }', '{ (((.a = 1.5) && (.b = -2)) && (.c = -2.5)) && (.d = nil) }'],
    ['{ duration > 1h30m && duration < 2d }', '{ (duration > 1h30m0s) && (duration < 48h0m0s) }'],
    ['{ duration > 1.5s && duration < 100us && duration != 10ns }', '{ ((duration > 1.5s) && (duration < 100µs)) && (duration != 10ns) }'],
    ['{ .a = "tab\\there" }', '{ .a = `tab\there` }'],
    ['{ .a = `raw \\n` }', '{ .a = `raw \\n` }'],
    [
      '{ kind = unspecified || kind = internal || kind = producer || kind = consumer }',
      '{ (((kind = unspecified) || (kind = internal)) || (kind = producer)) || (kind = consumer) }',
    ],
    ['{ status = unset }', '{ status = unset }'],
    // precedence: && and || share a level (left-assoc); comparisons bind tighter; * over +; ^ right-assoc
    ['{ .a = 1 || .b = 2 && .c = 3 }', '{ ((.a = 1) || (.b = 2)) && (.c = 3) }'],
    ['{ .a + .b * .c = .d }', '{ (.a + (.b * .c)) = .d }'],
    ['{ .a ^ .b ^ .c > 1 }', '{ (.a ^ (.b ^ .c)) > 1 }'],
    ['{ .a - .b - .c > 1 }', '{ ((.a - .b) - .c) > 1 }'],
    ['{ -.a * 2 > 1 }', '{ (-(.a * 2)) > 1 }'],
    ['{ !.a = true }', '{ (!.a) = true }'],
    ['{ !(.a = 1) }', '{ !(.a = 1) }'],
    ['{ (.a = 1 || .b = 2) && .c = 3 }', '{ ((.a = 1) || (.b = 2)) && (.c = 3) }'],
    // constants fold, as in Tempo
    ['{ 1 + 1 = 2 }', '{ true }'],
    ['{ .a > -(1 + 2) }', '{ .a > -3 }'],
    // spanset operators: structural binds tighter than && and ||
    ['{ .a } && { .b }', '({ .a }) && ({ .b })'],
    ['{ .a } || { .b } && { .c }', '(({ .a }) || ({ .b })) && ({ .c })'],
    ['{ .a } && { .b } > { .c }', '({ .a }) && (({ .b }) > ({ .c }))'],
    ['{ .a } >> { .b } >> { .c }', '(({ .a }) >> ({ .b })) >> ({ .c })'],
    ['{ .a } < { .b }', '({ .a }) < ({ .b })'],
    ['{ .a } << { .b }', '({ .a }) << ({ .b })'],
    ['{ .a } ~ { .b }', '({ .a }) ~ ({ .b })'],
    ['{ .a } !> { .b }', '({ .a }) !> ({ .b })'],
    ['{ .a } !< { .b }', '({ .a }) !< ({ .b })'],
    ['{ .a } !>> { .b }', '({ .a }) !>> ({ .b })'],
    ['{ .a } !<< { .b }', '({ .a }) !<< ({ .b })'],
    ['{ .a } !~ { .b }', '({ .a }) !~ ({ .b })'],
    ['{ .a } &> { .b }', '({ .a }) &> ({ .b })'],
    ['{ .a } &< { .b }', '({ .a }) &< ({ .b })'],
    ['{ .a } &>> { .b }', '({ .a }) &>> ({ .b })'],
    ['{ .a } &<< { .b }', '({ .a }) &<< ({ .b })'],
    ['{ .a } &~ { .b }', '({ .a }) &~ ({ .b })'],
    ['({ .a } && { .b }) >> { .c }', '(({ .a }) && ({ .b })) >> ({ .c })'],
    // pipelines
    ['{ .a } | count() > 2', '{ .a }|(count()) > 2'],
    ['count() > 2', '(count()) > 2'],
    ['{ } | avg(duration) > 1s | min(.x) < 2 | max(.y) >= 3 | sum(.z) != 4', '{ true }|(avg(duration)) > 1s|(min(.x)) < 2|(max(.y)) >= 3|(sum(.z)) != 4'],
    ['{ } | count() + 1 > 2', '{ true }|((count()) + 1) > 2'],
    ['{ } | count() > -1', '{ true }|(count()) > -1'],
    ['{ } | by(resource.service.name) | count() > 1 | coalesce()', '{ true }|by(resource.service.name)|(count()) > 1|coalesce()'],
    ['by(.a) | { .b }', 'by(.a)|{ .b }'],
    ['{ .a } | select(span.b, resource.c, .d, name, span:id)', '{ .a }|select(span.b, resource.c, .d, name, span:id)'],
    ['{ .a } && { .b } | count() > 1', '({ .a }) && ({ .b })|(count()) > 1'],
    ['({ .a } | count() > 1) && ({ .b } | count() > 2)', '({ .a }|(count()) > 1) && ({ .b }|(count()) > 2)'],
    ['({ .a } | count() > 1) >> ({ .b })', '({ .a }|(count()) > 1) >> ({ .b })'],
    ['({ .a } | count()) > 1', '({ .a }|count()) > 1'],
    // hints and comments
    ['{ .a } with(most_recent=true)', '{ .a } with(most_recent=true)'],
    ['{ .a } /* why */ && { .b } // trailing', '({ .a }) && ({ .b })'],
  ])('%s', (q, expected) => {
    expect(shape(q)).toBe(expected);
  });

  test('the tree itself', () => {
    const expected: RootExpr = {
      pipeline: {
        kind: 'pipeline',
        elements: [
          {
            kind: 'spansetOperation',
            op: '>>',
            lhs: {
              kind: 'spansetFilter',
              expr: {
                kind: 'binary',
                op: '=',
                lhs: { kind: 'attribute', scope: 'resource', parent: false, name: 'service.name' },
                rhs: { kind: 'static', value: { type: 'string', value: 'a' } },
              },
            },
            rhs: {
              kind: 'spansetFilter',
              expr: {
                kind: 'binary',
                op: '>',
                lhs: { kind: 'attribute', scope: 'none', parent: false, name: '', intrinsic: 'duration' },
                rhs: { kind: 'static', value: { type: 'duration', value: 1e7 } },
              },
            },
          },
          { kind: 'groupOperation', expr: { kind: 'attribute', scope: 'span', parent: false, name: 'x' } },
          { kind: 'scalarFilter', op: '>', lhs: { kind: 'aggregate', op: 'count' }, rhs: { kind: 'static', value: { type: 'int', value: 1 } } },
        ],
      },
      hints: [],
    };
    expect(parse('{ resource.service.name = "a" } >> { duration > 10ms } | by(span.x) | count() > 1')).toEqual(expected);
  });
});

describe('parse errors: position and what was expected, in Tempo words', () => {
  test.each([
    // Tempo's own parse tests (pkg/traceql/parse_test.go, v2.7)
    ['', 'parse error : syntax error: unexpected $end'],
    ['{ .a } | { .b', 'parse error at line 1, col 14: syntax error: unexpected $end'],
    ['{ .a | .b }', 'parse error at line 1, col 6: syntax error: unexpected |'],
    ['({ .a } | { .b }', 'parse error at line 1, col 17: syntax error: unexpected $end, expecting ) or |'],
    ['({ .a } | { .b }) + ({ .a } | { .b })', 'parse error at line 1, col 19: syntax error: unexpected +, expecting with'],
    ['by(.a) && { .b }', 'parse error at line 0, col 8: syntax error: unexpected &&, expecting with'],
    ['by()', 'parse error at line 1, col 4: syntax error: unexpected )'],
    ['coalesce()', 'parse error at line 1, col 1: syntax error: unexpected coalesce'],
    ['select(.a) && { .b }', 'parse error at line 0, col 12: syntax error: unexpected &&, expecting with'],
    ['select()', 'parse error at line 1, col 8: syntax error: unexpected )'],
    ['{ true } &&', 'parse error at line 1, col 12: syntax error: unexpected $end, expecting { or ('],
    ['(avg(.foo) > count()) + sum(.bar)', 'parse error at line 1, col 23: syntax error: unexpected +, expecting with'],
    ['count(', 'parse error at line 1, col 7: syntax error: unexpected $end, expecting )'],
    ['count(avg)', 'parse error at line 1, col 7: syntax error: unexpected avg, expecting )'],
    ['count(.thing)', 'parse error at line 1, col 7: syntax error: unexpected ., expecting )'],
    ['wharblgarbl', 'parse error at line 1, col 1: syntax error: unexpected IDENTIFIER'],
    ['{ 2 <> 3}', 'parse error at line 1, col 6: syntax error: unexpected >'],
    ['{ 2 = .b ', 'parse error at line 1, col 10: syntax error: unexpected $end'],
    ['{ + }', 'parse error at line 1, col 3: syntax error: unexpected +'],
    ['{ . foo }', 'parse error at line 1, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER'],
    ['{ . "foo" }', 'parse error at line 1, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER'],
    ['{ .foo .bar }', 'parse error at line 1, col 8: syntax error: unexpected .'],
    ['{ parent. }', 'parse error at line 0, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER or resource. or span.'],
    ['.3foo', 'parse error at line 1, col 3: syntax error: unexpected IDENTIFIER'],
    ['{ ."foo }', 'parse error at line 0, col 3: unexpected EOF, expecting "'],
    // more
    ['{ span. }', 'parse error at line 0, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER'],
    ['{ .a = 1 }\n| { .b', 'parse error at line 2, col 7: syntax error: unexpected $end'],
    ['{ .a = 1 } |\n', 'parse error at line 1, col 13: syntax error: unexpected $end'],
    ['{ trace:foo = 1 }', 'parse error at line 1, col 9: syntax error: unexpected IDENTIFIER, expecting duration or rootName or rootService or id'],
    ['{ event:x = 1 }', 'parse error at line 1, col 9: syntax error: unexpected IDENTIFIER, expecting name or timeSinceStart'],
    ['{ .a = "unterminated }', 'parse error at line 1, col 8: literal not terminated'],
    ['{ .a = "bad \\q" }', 'parse error at line 1, col 8: invalid char escape'],
    ['{ .a } | avg(.x)', 'parse error at line 1, col 17: syntax error: unexpected $end'],
    ['{ .a } >> 1', 'parse error at line 1, col 11: syntax error: unexpected INTEGER, expecting { or ('],
    ['{ .a } && ({ .b } | count() > 1)', 'parse error at line 1, col 19: syntax error: unexpected |'],
    ['{ .a } | count() > "x"', 'parse error at line 1, col 20: syntax error: unexpected STRING'],
    ['({ true }) + (count()) = 1', 'parse error at line 1, col 12: syntax error: unexpected +, expecting with'],
    ['({ true }) && (count())', 'parse error at line 1, col 23: syntax error: unexpected )'],
    ['count() > 3 && { true }', 'parse error at line 0, col 13: syntax error: unexpected &&, expecting with'],
    ['{ .a = 1 } { .b = 2 }', 'parse error at line 1, col 12: syntax error: unexpected {, expecting with'],
  ])('%j', (q, message) => {
    expect(errorOf(() => parse(q))).toBe(message);
  });

  test('parse errors carry their code and position', () => {
    try {
      parse('{ .a = }');
      throw new Error('parsed');
    } catch (e) {
      expect(e).toMatchObject({ code: Code.InvalidArgument, reason: 'PARSE_ERROR', line: 1, col: 8, detail: 'syntax error: unexpected }' });
      expect((e as Error).message).toBe('[invalid_argument] parse error at line 1, col 8: syntax error: unexpected }');
    }
  });
});

describe('validation: the type checks Tempo runs after parsing', () => {
  test.each([
    ['{ .a = 1 && "x" }', 'binary operations must operate on the same type: (.a = 1) && `x`'],
    ['{ duration > "foo" }', 'binary operations must operate on the same type: duration > `foo`'],
    ['{ name = 1 }', 'binary operations must operate on the same type: name = 1'],
    ['{ status = 0 }', 'binary operations must operate on the same type: status = 0'],
    ['{ kind = ok }', 'binary operations must operate on the same type: kind = ok'],
    ['{ .a = nil }', '{.a = nil} not yet supported'],
    ['{ name =~ 1 }', 'binary operations must operate on the same type: name =~ 1'],
    ['{ 1 =~ 2 }', 'illegal operation for the given types: 1 =~ 2'],
    ['{ "a" + "b" = .c }', 'illegal operation for the given types: `a` + `b`'],
    ['{ status > ok }', 'illegal operation for the given types: status > ok'],
    ['{ !1 }', 'illegal operation for the given type: !1'],
    ['{ -"a" = .b }', 'illegal operation for the given type: -`a`'],
    ['{ 1 }', 'span filter field expressions must resolve to a boolean: { 1 }'],
    ['{ name }', 'span filter field expressions must resolve to a boolean: { name }'],
    ['{ .a } | avg(name) > 1', 'aggregate field expressions must resolve to a number type: avg(name)'],
    ['{ .a } | avg(1) > 1', 'aggregate field expressions must reference the span: avg(1)'],
    ['{ .a } | by(1)', 'grouping field expressions must reference the span: by(1)'],
    ['{ .a } | 2 < count()', 'scalar filter lhs of type (%v) not yet supported'],
    ['({ .a } | count()) > 1', 'scalar filter lhs of type (%v) not yet supported'],
    ['{ parent.a = 1 }', 'parent not yet supported'],
    ['{ childCount > 1 }', 'intrinsic (childCount) not yet supported'],
    ['{ .a =~ "(unclosed" }', 'invalid regex: "(unclosed": unterminated group'],
    ['{ .a !~ "a{2,1}" }', 'invalid regex: "a{2,1}": numbers out of order in {} quantifier'],
  ])('%s', (q, message) => {
    expect(errorOf(() => compileQuery(q))).toBe(message);
  });

  test('valid queries compile', () => {
    for (const q of [
      '{ .a = 1 && .b = "x" }',
      '{ .a != nil }',
      '{ duration > 1s && .a > 1.5 }',
      '{ .a } | avg(.b) > 1',
      '{ .a =~ "(?i)get|post" }',
      '{ .a =~ "[[:alpha:]]+" }',
    ]) {
      expect(() => compileQuery(q)).not.toThrow();
    }
  });
});

describe('lexer', () => {
  test.each([
    ['10ms', 1e7],
    ['1.5s', 1.5e9],
    ['1h30m', 5400e9],
    ['2d', 172800e9],
    ['1w', 604800e9],
    ['300us', 3e5],
    ['300µs', 3e5],
    ['5ns', 5],
    ['1m30s', 90e9],
  ])('duration %s', (text, ns) => {
    expect(parseDuration(text)).toBe(ns);
    expect(tokenize(`{ duration > ${text} }`)[3]).toMatchObject({ type: 'DURATION', value: ns });
  });

  test('numbers, strings and operators', () => {
    const types = tokenize('{ .a = 0x1F && .b = 1e3 && .c = "\\u00e9\\x41\\101" && .d !~ `x` } &>> {} !<< {}').map((t) => [t.type, t.value]);
    expect(types).toEqual([
      ['{', '{'],
      ['.', '.'],
      ['IDENTIFIER', 'a'],
      ['END_ATTRIBUTE', ''],
      ['=', '='],
      ['INTEGER', 31],
      ['&&', '&&'],
      ['.', '.'],
      ['IDENTIFIER', 'b'],
      ['END_ATTRIBUTE', ''],
      ['=', '='],
      ['FLOAT', 1000],
      ['&&', '&&'],
      ['.', '.'],
      ['IDENTIFIER', 'c'],
      ['END_ATTRIBUTE', ''],
      ['=', '='],
      ['STRING', 'éAA'],
      ['&&', '&&'],
      ['.', '.'],
      ['IDENTIFIER', 'd'],
      ['END_ATTRIBUTE', ''],
      ['!~', '!~'],
      ['STRING', 'x'],
      ['}', '}'],
      ['&>>', '&>>'],
      ['{', '{'],
      ['}', '}'],
      ['!<<', '!<<'],
      ['{', '{'],
      ['}', '}'],
      ['EOF', ''],
    ]);
  });
});
