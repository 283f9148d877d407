import { backoffDelay, retryAfterMs } from './backoff';
import { classify } from './sender';

describe('backoffDelay', () => {
  it.each([
    [0, 0, 15],
    [0, 0.999999, 30],
    [1, 0, 30],
    [3, 0.5, 180],
    [7, 0, 1920],
    [8, 0, 2500],
    [8, 0.999999, 5000],
    [60, 0.5, 3750],
  ])('attempt %i with jitter %f waits %i ms (min 30, max 5000)', (attempt, r, want) => {
    expect(backoffDelay(attempt, { minMs: 30, maxMs: 5000, random: () => r })).toBe(want);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['absent', null, undefined],
    ['empty', '', undefined],
    ['seconds', '2', 2000],
    ['zero', '0', 0],
    ['capped at the max backoff', '3600', 5000],
    ['an HTTP date', 'Thu, 01 Jan 2026 00:00:03 GMT', 3000],
    ['a past date', 'Wed, 31 Dec 2025 23:00:00 GMT', 0],
    ['garbage', 'soon', undefined],
  ])('%s', (_name, header, want) => {
    expect(retryAfterMs(header, now, 5000)).toBe(want);
  });
});

describe('classify (remote write 1.0 status handling)', () => {
  it.each([
    [200, 'ok'],
    [204, 'ok'],
    [400, 'rejected'],
    [401, 'rejected'],
    [404, 'rejected'],
    [413, 'rejected'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [504, 'retry'],
  ])('%i → %s', (status, want) => {
    expect(classify(status)).toBe(want);
  });
});
