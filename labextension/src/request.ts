import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The REST namespace of the jupyter_kf server extension. */
const NAMESPACE = 'jupyter-kf/api';

export type JobPhase =
  'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';

export interface IWorker {
  rank: number;
  phase: string;
  exit_code: number | null;
  message?: string;
}

export interface IResources {
  workers?: number;
  cpu?: string | null;
  memory?: string | null;
  gpus?: number;
}

/** A job as `JobStatus.to_dict()` serialises it. */
export interface IJob {
  name: string;
  phase: JobPhase;
  backend: 'local' | 'kubernetes';
  namespace: string | null;
  kind: string;
  created: string | null;
  started: string | null;
  finished: string | null;
  workers: IWorker[];
  resources: IResources;
  message: string;
}

/** Phases in which a job can still be cancelled. */
export const ACTIVE_PHASES: ReadonlySet<string> = new Set([
  'Pending',
  'Running'
]);

/**
 * Call the jupyter_kf REST API and return the decoded JSON body.
 *
 * `ServerConnection.makeRequest` adds the base URL's token and the XSRF header,
 * so this works behind JupyterHub and with token or cookie authentication.
 * A non-2xx reply raises `ResponseError` carrying the server's one-line message.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON (e.g. a proxy's HTML error page): keep the text.
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && data.message) ||
      `${response.status} ${response.statusText}`;
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}

export async function listJobs(
  settings?: ServerConnection.ISettings
): Promise<IJob[]> {
  const reply = await requestAPI<{ jobs: IJob[] }>('jobs', {}, settings);
  return reply.jobs;
}

export async function cancelJob(
  name: string,
  settings?: ServerConnection.ISettings
): Promise<IJob> {
  return requestAPI<IJob>(
    `jobs/${encodeURIComponent(name)}/cancel`,
    { method: 'POST' },
    settings
  );
}
