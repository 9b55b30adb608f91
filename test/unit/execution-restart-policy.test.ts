import {
  formatRestartState,
  NO_RESTART,
  parseRestartState,
  type RestartState,
  restartDelayMs,
  shouldRestart,
} from '../../src/portlayer/execution/restart-policy';

const state = (
  name: RestartState['policy']['name'],
  extra: Partial<RestartState> = {},
  max?: number,
): RestartState => ({
  policy: { name, ...(max !== undefined ? { maximumRetryCount: max } : {}) },
  count: 0,
  manuallyStopped: false,
  ...extra,
});

describe('shouldRestart', () => {
  test('no never restarts', () => {
    expect(shouldRestart(state('no'), 1)).toBe(false);
    expect(shouldRestart(state('no'), 1, true)).toBe(false);
  });

  test('always restarts after any exit unless the user stopped it; a VCH start brings it back anyway', () => {
    expect(shouldRestart(state('always'), 0)).toBe(true);
    expect(shouldRestart(state('always', { manuallyStopped: true }), 0)).toBe(false);
    expect(shouldRestart(state('always', { manuallyStopped: true }), 0, true)).toBe(true);
  });

  test('unless-stopped stays stopped after a user stop, even at a VCH start', () => {
    expect(shouldRestart(state('unless-stopped'), 0)).toBe(true);
    expect(shouldRestart(state('unless-stopped', { manuallyStopped: true }), 0, true)).toBe(false);
  });

  test('on-failure restarts non-zero exits up to its count (0 = no limit)', () => {
    expect(shouldRestart(state('on-failure', {}, 2), 0)).toBe(false);
    expect(shouldRestart(state('on-failure', { count: 1 }, 2), 1)).toBe(true);
    expect(shouldRestart(state('on-failure', { count: 2 }, 2), 1)).toBe(false);
    expect(shouldRestart(state('on-failure', { count: 50 }), 1)).toBe(true);
    expect(shouldRestart(state('on-failure', { manuallyStopped: true }), 137)).toBe(false);
  });
});

describe('restartDelayMs', () => {
  test('starts at 100 ms, doubles for quick exits, resets after a run of 10 s, caps at a minute', () => {
    expect(restartDelayMs(undefined, 0)).toBe(100);
    expect(restartDelayMs(100, 50)).toBe(200);
    expect(restartDelayMs(200, 9_999)).toBe(400);
    expect(restartDelayMs(400, 10_000)).toBe(100);
    expect(restartDelayMs(40_000, 0)).toBe(60_000);
  });
});

describe('the stored state', () => {
  test('round-trips through extraConfig text', () => {
    const s = state('on-failure', { count: 2, manuallyStopped: true }, 3);
    expect(parseRestartState(formatRestartState(s))).toEqual(s);
  });

  test('absent or damaged reads as no policy', () => {
    expect(parseRestartState(undefined)).toEqual(NO_RESTART);
    expect(parseRestartState('{')).toEqual(NO_RESTART);
    expect(parseRestartState('{"policy":{"name":"sometimes"}}')).toEqual(NO_RESTART);
  });
});
