/** How a phase is shown: the badge's colour and icon. */
export type Tone = 'pending' | 'running' | 'ok' | 'error' | 'off' | 'unknown';

export const JOB_TONES: Record<string, Tone> = {
  Pending: 'pending',
  Running: 'running',
  Succeeded: 'ok',
  Failed: 'error',
  Cancelled: 'off'
};
export const NOTEBOOK_TONES: Record<string, Tone> = {
  Starting: 'pending',
  Waiting: 'pending',
  Ready: 'ok',
  Stopped: 'off',
  Error: 'error'
};
export const MODEL_TONES: Record<string, Tone> = {
  Pending: 'pending',
  Deploying: 'pending',
  Loading: 'pending',
  Starting: 'pending',
  Ready: 'ok',
  Running: 'ok',
  Stopped: 'off',
  Failed: 'error',
  Error: 'error'
};
export const VOLUME_TONES: Record<string, Tone> = {
  Pending: 'pending',
  Bound: 'ok',
  Lost: 'error'
};
