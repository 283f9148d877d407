import { parseTime } from './query-command';
import { Progress, table, type CommandIO } from './terminal';

function io(tty: boolean): CommandIO & { text: () => string } {
  let err = '';
  return { out: () => undefined, err: (t) => void (err += t), errIsTTY: tty, columns: 60, text: () => err };
}

describe('Progress', () => {
  it('draws on a TTY and clears itself when finished', () => {
    const t = io(true);
    const p = new Progress(t, 'scan', 4);
    p.setTotal(4);
    for (let i = 0; i < 4; i++) p.tick();
    expect(t.text()).toContain('] 4/4');
    expect(t.text()).toContain('[' + '='.repeat(10));
    p.finish();
    expect(t.text().endsWith('\r\x1b[2K')).toBe(true);
  });

  it('stays silent off a TTY', () => {
    const t = io(false);
    const p = new Progress(t, 'scan', 2);
    p.tick();
    p.tick();
    p.finish();
    expect(t.text()).toBe('');
  });
});

describe('table', () => {
  it('pads columns and right-aligns the numeric ones', () => {
    expect(
      table(
        ['name', 'n'],
        [
          ['a', '1'],
          ['bbb', '22'],
        ],
        new Set([1]),
      ),
    ).toBe('NAME   N\na      1\nbbb   22\n');
  });
});

describe('parseTime', () => {
  const now = Date.UTC(2026, 0, 2, 15, 4, 5);
  it.each([
    ['1700000000', 1700000000],
    ['now', now / 1000],
    ['1h', now / 1000 - 3600],
    ['15m', now / 1000 - 900],
    ['2026-01-02T15:00:00Z', now / 1000 - 245],
  ])('%s', (v, want) => expect(parseTime('start', v, now)).toBe(want));
  it('names a bad value', () => expect(() => parseTime('end', 'soon', now)).toThrow('--end: "soon" is not unix seconds'));
});
