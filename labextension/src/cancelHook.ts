import { ServerConnection } from '@jupyterlab/services';

import { cancelJob } from './request';

/** The class `jupyter_kf.training.widgets.JobView` gives its ipywidgets Cancel button. */
export const CANCEL_CLASS = 'jp-kf-cancel';

/** The button's other class names the job: `kf-job-<name>`. */
const JOB_CLASS_PREFIX = 'kf-job-';

/** Job names are DNS-1123 labels. */
const JOB_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The job a Cancel button stands for, or null when its class does not name a valid one. */
export function jobNameOf(button: Element): string | null {
  for (const cls of Array.from(button.classList)) {
    if (cls.startsWith(JOB_CLASS_PREFIX)) {
      const name = cls.slice(JOB_CLASS_PREFIX.length);
      if (name.length <= 63 && JOB_NAME.test(name)) {
        return name;
      }
    }
  }
  return null;
}

/**
 * Make the Cancel buttons of `%%kf_train` views work while their kernel is busy.
 *
 * The kernel waits for the job inside the cell, so the ipywidgets click (a comm
 * message) only reaches it once the cell ends. This capture-phase listener
 * cancels through `POST jupyter-kf/api/jobs/<name>/cancel` at once instead.
 * The event is left alone: ipywidgets still sends its click, and the kernel's
 * handler cancels again later, which is harmless on a finished job.
 *
 * Returns a function that removes the listener.
 */
export function installCancelHook(
  settings: ServerConnection.ISettings,
  root: Document | HTMLElement = document
): () => void {
  const onClick = (event: Event): void => {
    const target = event.target;
    if (!(target instanceof Element)) {
      return;
    }
    const button = target.closest(`button.${CANCEL_CLASS}`);
    if (!(button instanceof HTMLButtonElement) || button.disabled) {
      return;
    }
    if (button.dataset.kfCancel === 'pending') {
      return;
    }
    const name = jobNameOf(button);
    if (name === null) {
      return;
    }
    button.dataset.kfCancel = 'pending';
    // Touch the button only once the click has reached ipywidgets' own listener.
    window.setTimeout(() => void cancelFromButton(button, name, settings), 0);
  };
  root.addEventListener('click', onClick, true);
  return () => root.removeEventListener('click', onClick, true);
}

async function cancelFromButton(
  button: HTMLButtonElement,
  name: string,
  settings: ServerConnection.ISettings
): Promise<void> {
  button.disabled = true;
  button.textContent = 'Cancelling…';
  button.title = `Cancelling job ${name}`;
  try {
    const job = await cancelJob(name, settings);
    button.dataset.kfCancel = 'done';
    button.textContent = job.phase === 'Cancelled' ? 'Cancelled' : job.phase;
    button.title = `Job ${name}: ${job.phase}`;
  } catch (error) {
    button.dataset.kfCancel = 'error';
    button.disabled = false;
    button.textContent = 'Cancel failed';
    button.title = `Could not cancel ${name}: ${oneLine(error)}`;
  }
}

function oneLine(error: unknown): string {
  if (error instanceof ServerConnection.NetworkError) {
    return 'the Jupyter server cannot be reached.';
  }
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n', 1)[0];
}
