import { Time } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Texts the sections show for their items and for failures. */

/** Where an item runs: short for the row, long for its tooltip. */
export function describeWhere(
  backend: string,
  kind: string,
  namespace: string | null
): { text: string; title: string } {
  if (backend !== 'kubernetes') {
    return { text: 'local', title: 'Runs on this machine' };
  }
  const ns = namespace || 'default';
  return {
    text: `${kind} · ${ns}`,
    title: `Runs on Kubernetes as a ${kind} in namespace ${ns}`
  };
}

/** A tooltip with the times an item was created, started and finished. */
export function timesTitle(
  created: string | null,
  started: string | null,
  finished: string | null
): string {
  const lines: string[] = [];
  if (created) {
    lines.push(`Created ${Time.format(created)}`);
  }
  if (started) {
    lines.push(`Started ${Time.format(started)}`);
  }
  if (finished) {
    lines.push(`Finished ${Time.format(finished)}`);
  }
  return lines.join('\n');
}

/** `1 GPU`, `2 GPUs`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** What went wrong, in a sentence for the panel. */
export function messageOf(error: unknown): string {
  if (error instanceof ServerConnection.NetworkError) {
    return 'the Jupyter server cannot be reached.';
  }
  return error instanceof Error ? error.message : String(error);
}
