import { formatDuration, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['300ms', 300],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['336h', 1_209_600_000],
    ['2h45m30.5s', 9_930_500],
    ['1500us', 1.5],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '5', 'soon', '5 m', '1d', 'h1', '1h-5m'])('rejects %j', (text) => expect(parseDuration(text)).toBeUndefined());
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [1500, '1.5s'],
    [300_000, '5m0s'],
    [1_209_600_000, '336h0m0s'],
    [5_400_000, '1h30m0s'],
  ])('%d ms is %s', (ms, text) => expect(formatDuration(ms)).toBe(text));

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 3_600_000, 90_061_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
