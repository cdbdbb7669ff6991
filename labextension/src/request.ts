import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The REST namespace of the jupyter_kf server extension (see docs/openapi.yaml). */
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
  gpu_vendor?: string;
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
  pipeline?: { run: string; step: string };
}

/** A notebook server as `NotebookStatus.to_dict()` serialises it. */
export interface INotebookServer {
  name: string;
  phase: string; // Starting, Waiting, Ready, Stopped, Error
  backend: string;
  kind: string;
  namespace: string;
  url: string;
  hint: string;
  message: string;
  reason: string;
  image: string;
  resources: IResources;
  workspace: string;
  created: string;
}

/** A deployed model (`kf.models()`); fields beyond name and phase depend on the backend. */
export interface IModel {
  name: string;
  phase?: string;
  status?: string;
  ready?: boolean;
  url?: string;
  uri?: string;
  storage_uri?: string;
  backend?: string;
  namespace?: string | null;
  created?: string | null;
  message?: string;
  resources?: IResources;
  format?: string;
  protocol?: string;
  reasons?: string[];
  traffic?: string;
}

export interface IPipelineStep {
  name: string;
  task?: string;
  job: string;
  phase: string;
  seconds?: number | null;
}

export interface IPipelineRun {
  id: string;
  pipeline: string;
  notebook: string;
  phase: string;
  created: string;
  seconds: number | null;
  steps: IPipelineStep[];
  parameters: Record<string, unknown>;
  /** `local`, or `kfp` for a run submitted to Kubeflow Pipelines. */
  backend: string;
  /** A KFP run's page in the Kubeflow Pipelines UI. */
  url?: string;
  error?: string;
}

/** The runs, and why KFP's could not be listed when an endpoint is configured but failed. */
export interface IPipelineRunsListing {
  pipelines: IPipelineRun[];
  kfp_error?: string | null;
}

/** A search (`%%kf_tune`, `kf.tune`) as the API lists it; `trials` only for one search. */
export interface IExperiment {
  name: string;
  phase: string; // Running, Succeeded, Failed, Cancelled
  backend: string;
  namespace: string | null;
  objective: string;
  goal: 'minimize' | 'maximize';
  algorithm: string;
  max_trials: number;
  parallel: number;
  completed: number;
  running: number;
  failed: number;
  progress: string;
  created: string | null;
  message: string;
  best: {
    trial: string;
    objective: number;
    params: Record<string, string>;
  } | null;
  /** The first trial that failed: its log says why, when no trial succeeded. */
  first_failed?: string | null;
  trials?: ITrial[];
}

export interface ITrial {
  number: number;
  name: string;
  params: Record<string, string>;
  phase: string;
  objective: number | null;
  duration: number | null;
  message: string;
}

/** One immutable version of a dataset. */
export interface IDataVersion {
  version: number;
  ref: string;
  digest: string;
  files: number;
  size: number;
  size_text: string;
  created: string | null;
  kind: string;
  format: string | null;
  producer: { job?: string } | null;
}

/** A dataset with its versions and who read or wrote each (`kf.data.show`). */
export interface IDataset {
  name: string;
  latest: string | null;
  created: string | null;
  versions: IDataVersion[];
  lineage: { version: number; direction: string; text: string }[];
  /** The store: `local`, or the S3-compatible store's address. */
  where?: string;
}

/** A PersistentVolumeClaim with the pods that mount it. */
export interface IVolume {
  name: string;
  size: string;
  access: string;
  class: string;
  phase: string;
  created: string;
  'made by': string;
  /** The pods that mount it; null when they cannot be listed (the listing's note says why). */
  mounted_by: string[] | null;
}

export type SectionName =
  'jobs' | 'notebooks' | 'models' | 'pipelines' | 'experiments' | 'data';

export interface IServerInfo {
  backend: 'local' | 'kubernetes';
  backends: string[];
  cluster_configured: boolean;
  namespaces: string[];
  namespace: string | null;
  sections: Partial<Record<SectionName, boolean>>;
}

/** Which backend and namespace a request is about. */
export interface IWhere {
  backend?: string;
  namespace?: string | null;
}

/** Phases in which a job can still be cancelled. */
export const ACTIVE_PHASES: ReadonlySet<string> = new Set([
  'Pending',
  'Running'
]);

/** An error reply of the API: its one-line message and the KfError class that raised it. */
export class KfResponseError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    message: string,
    readonly reason: string
  ) {
    super(response, message);
  }
}

function query(where: IWhere = {}, extra: Record<string, string> = {}) {
  const params = new URLSearchParams();
  if (where.backend) {
    params.set('backend', where.backend);
  }
  if (where.namespace && where.backend !== 'local') {
    params.set('namespace', where.namespace);
  }
  for (const [key, value] of Object.entries(extra)) {
    params.set(key, value);
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The full URL of an API path. */
export function apiUrl(
  endPoint: string,
  settings: ServerConnection.ISettings
): string {
  return URLExt.join(settings.baseUrl, NAMESPACE, endPoint);
}

/**
 * Call the jupyter_kf REST API and return the decoded JSON body.
 *
 * `ServerConnection.makeRequest` adds the base URL's token and the XSRF header,
 * so this works behind JupyterHub and with token or cookie authentication.
 * A non-2xx reply raises `KfResponseError` carrying the server's one-line message.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = apiUrl(endPoint, settings);
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
    const reason = (data && typeof data === 'object' && data.reason) || '';
    throw new KfResponseError(response, message, reason);
  }
  return data as T;
}

function post(body?: unknown): RequestInit {
  return {
    method: 'POST',
    body: body === undefined ? '' : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

const DELETE: RequestInit = { method: 'DELETE' };

export function getInfo(settings?: ServerConnection.ISettings) {
  return requestAPI<IServerInfo>('info', {}, settings);
}

export async function listJobs(
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
): Promise<IJob[]> {
  const reply = await requestAPI<{ jobs: IJob[] }>(
    `jobs${query(where)}`,
    {},
    settings
  );
  return reply.jobs;
}

export async function cancelJob(
  name: string,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
): Promise<IJob> {
  return requestAPI<IJob>(
    `jobs/${encodeURIComponent(name)}/cancel${query({ backend: where.backend })}`,
    post(),
    settings
  );
}

export function deleteJob(
  name: string,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<{ deleted: string }>(
    `jobs/${encodeURIComponent(name)}${query({ backend: where.backend })}`,
    DELETE,
    settings
  );
}

export async function listNotebookServers(
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
): Promise<INotebookServer[]> {
  const reply = await requestAPI<{ notebooks: INotebookServer[] }>(
    `notebooks${query(where)}`,
    {},
    settings
  );
  return reply.notebooks;
}

export function createNotebookServer(
  body: Record<string, unknown>,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<INotebookServer>(
    `notebooks${query(where)}`,
    post(body),
    settings
  );
}

export function notebookAction(
  name: string,
  action: 'stop' | 'start',
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<INotebookServer>(
    `notebooks/${encodeURIComponent(name)}/${action}${query(where)}`,
    post(),
    settings
  );
}

export function notebookUrl(
  name: string,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<{ name: string; url: string; hint: string }>(
    `notebooks/${encodeURIComponent(name)}/url${query(where)}`,
    {},
    settings
  );
}

export function deleteNotebookServer(
  name: string,
  keepWorkspace: boolean,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<{ deleted: string; workspace_kept: string | null }>(
    `notebooks/${encodeURIComponent(name)}${query(where, {
      keep_workspace: String(keepWorkspace)
    })}`,
    DELETE,
    settings
  );
}

export async function listModels(
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
): Promise<IModel[]> {
  const reply = await requestAPI<{ models: IModel[] }>(
    `models${query(where)}`,
    {},
    settings
  );
  return reply.models;
}

export function deployModel(
  body: Record<string, unknown>,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<IModel>(`models${query(where)}`, post(body), settings);
}

export function undeployModel(
  name: string,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<{ deleted: string }>(
    `models/${encodeURIComponent(name)}${query(where)}`,
    DELETE,
    settings
  );
}

export function listPipelineRuns(
  settings?: ServerConnection.ISettings
): Promise<IPipelineRunsListing> {
  return requestAPI<IPipelineRunsListing>('pipelines/runs', {}, settings);
}

export function cancelPipelineRun(
  id: string,
  settings?: ServerConnection.ISettings
) {
  return requestAPI<IPipelineRun>(
    `pipelines/runs/${encodeURIComponent(id)}/cancel`,
    post(),
    settings
  );
}

export async function listExperiments(
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
): Promise<IExperiment[]> {
  const reply = await requestAPI<{ experiments: IExperiment[] }>(
    `experiments${query(where)}`,
    {},
    settings
  );
  return reply.experiments;
}

export function getExperiment(
  name: string,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<IExperiment>(
    `experiments/${encodeURIComponent(name)}${query(where)}`,
    {},
    settings
  );
}

export function cancelExperiment(
  name: string,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<IExperiment>(
    `experiments/${encodeURIComponent(name)}/cancel${query(where)}`,
    post(),
    settings
  );
}

export function deleteExperiment(
  name: string,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<{ deleted: string }>(
    `experiments/${encodeURIComponent(name)}${query(where)}`,
    DELETE,
    settings
  );
}

export async function listDatasets(
  settings?: ServerConnection.ISettings
): Promise<IDataset[]> {
  const reply = await requestAPI<{ datasets: IDataset[] }>(
    'data',
    {},
    settings
  );
  return reply.datasets;
}

/** Delete one version (`version` given) or the whole dataset; `force` even while a job refers to it. */
export function deleteDataset(
  name: string,
  version: number | null,
  force: boolean,
  settings?: ServerConnection.ISettings
) {
  const path = version === null ? '' : `/versions/${version}`;
  return requestAPI<{ deleted: string; message: string }>(
    `data/${encodeURIComponent(name)}${path}${query({}, { force: String(force) })}`,
    DELETE,
    settings
  );
}

export function listVolumes(
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<{ volumes: IVolume[]; note: string }>(
    `volumes${query(where)}`,
    {},
    settings
  );
}

export function deleteVolume(
  name: string,
  force: boolean,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<{ deleted: string; message: string }>(
    `volumes/${encodeURIComponent(name)}${query(where, { force: String(force) })}`,
    DELETE,
    settings
  );
}

/** What a log stream reports. */
export interface ILogHandlers {
  lines: (lines: string[]) => void;
  /** Each worker's line still being redrawn (a progress bar), replacing the previous ones. */
  pending?: (pending: Array<[number, string]>) => void;
  status?: (job: IJob) => void;
  end?: (phase: string) => void;
  error?: (message: string) => void;
}

/**
 * Follow a job's log (server-sent events from `GET jobs/<name>/logs`).
 *
 * Read with `fetch` rather than `EventSource` so that the token and base URL
 * of `ServerConnection` apply. Resolves when the stream ends or `signal` aborts.
 */
export async function streamLogs(
  name: string,
  handlers: ILogHandlers,
  signal: AbortSignal,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  where: IWhere = {}
): Promise<void> {
  const url = apiUrl(
    `jobs/${encodeURIComponent(name)}/logs${query({ backend: where.backend })}`,
    settings
  );
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, { signal }, settings);
  } catch (error) {
    if (signal.aborted) {
      return;
    }
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).message ?? message;
    } catch {
      // keep the status line
    }
    throw new KfResponseError(response, message, '');
  }
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        dispatch(block, handlers);
      }
    }
  } catch (error) {
    if (!signal.aborted) {
      throw error;
    }
  }
}

function dispatch(block: string, handlers: ILogHandlers): void {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) {
      event = line.slice(7);
    } else if (line.startsWith('data: ')) {
      data.push(line.slice(6));
    }
  }
  if (data.length === 0) {
    return; // a keepalive comment
  }
  const payload = JSON.parse(data.join('\n'));
  switch (event) {
    case 'lines':
      handlers.lines(payload as string[]);
      break;
    case 'pending':
      handlers.pending?.(payload as Array<[number, string]>);
      break;
    case 'status':
      handlers.status?.(payload as IJob);
      break;
    case 'end':
      handlers.end?.(payload.phase);
      break;
    case 'error':
      handlers.error?.(payload.message);
      break;
  }
}

/** `kf.train` through the server: for a cell that needs no notebook variables. */
export function createJob(
  body: Record<string, unknown>,
  settings?: ServerConnection.ISettings,
  where: IWhere = {}
) {
  return requestAPI<IJob>(`jobs${query(where)}`, post(body), settings);
}
