import { Logger } from './log';

function capture(format: 'json' | 'logfmt') {
  const lines: string[] = [];
  return { lines, logger: new Logger('info', format, { component: 'c' }, { write: (s: string) => void lines.push(s) }) };
}

describe('Logger', () => {
  it('writes ts, level, the logger fields, msg and the event fields, errors as their message', () => {
    const { lines, logger } = capture('json');
    logger.warn('flush failed', { block: 'b1', err: new Error('boom') });
    const e = JSON.parse(lines[0]!);
    expect(Object.keys(e)).toEqual(['ts', 'level', 'component', 'msg', 'block', 'err']);
    expect(e).toMatchObject({ level: 'warn', component: 'c', msg: 'flush failed', block: 'b1', err: 'boom' });
  });

  it('never lets a field overwrite ts, level or msg', () => {
    const { lines, logger } = capture('json');
    logger.child({ level: 3 }).info('compacted', { msg: 'x', ts: 0 });
    const e = JSON.parse(lines[0]!);
    expect(e).toMatchObject({ level: 'info', msg: 'compacted', level_: 3, msg_: 'x', ts_: 0 });
    expect(typeof e.ts).toBe('string');
  });

  it('drops lines below its level and quotes logfmt values that need it', () => {
    const { lines, logger } = capture('logfmt');
    logger.debug('hidden');
    logger.info('two words', { empty: '' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ts=\S+ level=info component=c msg="two words" empty=""\n$/);
  });
});
