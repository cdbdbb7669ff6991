import { Time } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { LabIcon, addIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { askDeleteNotebook, askForm, confirmLoss } from './forms';
import { kubeflowIcon, toneIcons } from './icons';
import { NotebookBridge, trainInKernel } from './notebookBridge';
import {
  ACTIVE_PHASES,
  IJob,
  IModel,
  INotebookServer,
  IPipelineRun,
  IServerInfo,
  IWhere,
  cancelJob,
  cancelPipelineRun,
  createJob,
  createNotebookServer,
  deleteJob,
  deleteNotebookServer,
  deployModel,
  getInfo,
  listJobs,
  listModels,
  listNotebookServers,
  listPipelineRuns,
  notebookAction,
  notebookUrl,
  undeployModel
} from './request';
import { el } from './dom';

export const PANEL_ID = 'jupyter-kf-panel';

/** How a phase is shown: the badge's colour and icon. */
export type Tone = 'pending' | 'running' | 'ok' | 'error' | 'off' | 'unknown';

const JOB_TONES: Record<string, Tone> = {
  Pending: 'pending',
  Running: 'running',
  Succeeded: 'ok',
  Failed: 'error',
  Cancelled: 'off'
};
const NOTEBOOK_TONES: Record<string, Tone> = {
  Starting: 'pending',
  Waiting: 'pending',
  Ready: 'ok',
  Stopped: 'off',
  Error: 'error'
};
const MODEL_TONES: Record<string, Tone> = {
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

/** What the panel does for its rows: actions reach the server, a notebook, the main area. */
export interface IPanelHost {
  openLogs(job: string, where: IWhere): void;
  bridge: NotebookBridge | null;
}

interface IAction {
  id: string;
  label: string;
  aria: string;
  busy?: string;
  danger?: boolean;
  run: () => Promise<unknown> | unknown;
}

interface IRowView {
  key: string;
  phase: string;
  tone: Tone;
  created: string | null;
  times?: string;
  resources: string;
  where: { text: string; title: string };
  message: string;
  actions: IAction[];
  steps?: { name: string; phase: string; job: string }[];
}

/**
 * The Kubeflow sidebar: Jobs, Notebook servers, Models and Pipeline runs, for
 * the chosen backend and namespace, polled from the server's shared cache
 * while the panel is visible, with the actions each row allows.
 */
export class JobsPanel extends Widget {
  constructor(options: JobsPanel.IOptions = {}) {
    super();
    this.settings = options.settings ?? ServerConnection.makeSettings();
    this.host = options.host ?? { openLogs: () => undefined, bridge: null };
    this.id = PANEL_ID;
    this.title.icon = kubeflowIcon;
    this.title.caption = 'Kubeflow';
    this.addClass('jp-KFPanel');
    this.sections = [
      new JobsSection(this),
      new NotebooksSection(this),
      new ModelsSection(this),
      new PipelinesSection(this)
    ];
    this._buildDom();
    this._poll = new Poll<void, unknown>({
      name: 'jupyter-kf:panel',
      factory: () => this._load(),
      frequency: {
        interval: options.interval ?? 2000,
        backoff: true,
        max: 30 * 1000
      },
      standby: () => !this.isVisible || 'when-hidden'
    });
  }

  readonly settings: ServerConnection.ISettings;
  readonly host: IPanelHost;
  readonly sections: Section<any>[];
  info: IServerInfo | null = null;

  /** The backend and namespace chosen in the selectors. */
  get where(): IWhere {
    return {
      backend: this._backend.value || undefined,
      namespace: this._namespace.value || null
    };
  }

  /** Fetch everything now instead of waiting for the next tick. */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this._poll.refresh();
  }

  private _buildDom(): void {
    const header = el('header', 'jp-KFPanel-header');
    const title = el('h2', 'jp-KFPanel-title', 'Kubeflow');
    const refresh = el('button', 'jp-KFPanel-iconButton jp-KFPanel-refresh');
    refresh.type = 'button';
    refresh.title = 'Refresh';
    refresh.setAttribute('aria-label', 'Refresh jobs');
    refresh.appendChild(iconElement(refreshIcon));
    refresh.addEventListener('click', () => void this.refresh());
    header.append(title, refresh);

    const where = el('div', 'jp-KFPanel-where-bar');
    where.setAttribute('role', 'group');
    where.setAttribute('aria-label', 'Where things run');
    const backendLabel = el('label', 'jp-KFPanel-selectLabel', 'Backend ');
    this._backend.className = 'jp-KFPanel-select jp-KFPanel-backend';
    this._backend.setAttribute('aria-label', 'Backend');
    backendLabel.appendChild(this._backend);
    this._namespaceLabel.className = 'jp-KFPanel-selectLabel';
    this._namespaceLabel.append('Namespace ');
    this._namespace.className = 'jp-KFPanel-select jp-KFPanel-namespace';
    this._namespace.setAttribute('aria-label', 'Namespace');
    this._namespaceLabel.appendChild(this._namespace);
    this._backend.addEventListener('change', () => this._whereChanged());
    this._namespace.addEventListener('change', () => this._whereChanged());
    this._note.className = 'jp-KFPanel-note';
    this._note.setAttribute('role', 'note');
    where.append(backendLabel, this._namespaceLabel, this._note);
    this._whereBar = where;
    where.hidden = true;

    this.node.append(header, where, ...this.sections.map(s => s.node));
    this.node.addEventListener('keydown', event => this._onKeyDown(event));
    this.node.addEventListener('kf-open-logs', event => {
      this.host.openLogs((event as CustomEvent<string>).detail, {
        backend: 'local'
      });
    });
  }

  private _whereChanged(): void {
    this._syncNamespace();
    for (const section of this.sections) {
      section.reset();
    }
    void this.refresh();
  }

  private _applyInfo(info: IServerInfo): void {
    this.info = info;
    this._backend.replaceChildren(
      ...info.backends.map(name => {
        const option = el(
          'option',
          '',
          name === 'local' ? 'local (this machine)' : 'kubernetes'
        );
        option.value = name;
        option.selected = name === info.backend;
        return option;
      })
    );
    this._namespace.replaceChildren(
      ...info.namespaces.map(name => {
        const option = el('option', '', name);
        option.value = name;
        option.selected = name === info.namespace;
        return option;
      })
    );
    this._whereBar.hidden = false;
    this._syncNamespace();
    for (const section of this.sections) {
      section.setAvailable(
        info.sections[section.id as keyof IServerInfo['sections']]
      );
    }
  }

  private _syncNamespace(): void {
    const cluster = this._backend.value === 'kubernetes';
    this._namespaceLabel.hidden = !cluster;
    this._namespace.disabled = !cluster;
    this._note.textContent =
      this.info && !this.info.cluster_configured
        ? 'No cluster configured: jobs run on this machine.'
        : cluster
          ? ''
          : 'Local backend: everything runs on this machine.';
  }

  private async _load(): Promise<void> {
    if (!this.info) {
      try {
        this._applyInfo(await getInfo(this.settings));
      } catch (error) {
        this.sections[0].showLoadError(
          `Could not reach jupyter_kf: ${messageOf(error)}`
        );
        this.sections[0].render();
        throw error;
      }
    }
    const where = this.where;
    const results = await Promise.allSettled(
      this.sections.filter(s => s.available).map(s => s.load(where))
    );
    if (results.every(r => r.status === 'rejected')) {
      throw new Error('every section failed'); // back off
    }
  }

  /** Up/Down arrows move between rows, as in JupyterLab's other lists. */
  private _onKeyDown(event: KeyboardEvent): void {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') {
      return;
    }
    const target = event.target as HTMLElement;
    if (!target.classList?.contains('jp-KFPanel-item')) {
      return;
    }
    const rows = Array.from(
      this.node.querySelectorAll<HTMLElement>('.jp-KFPanel-item')
    ).filter(row => row.offsetParent !== null);
    const current = rows.indexOf(target);
    const next = current + (event.key === 'ArrowDown' ? 1 : -1);
    if (current >= 0 && next >= 0 && next < rows.length) {
      rows[next].focus();
      event.preventDefault();
    }
  }

  private readonly _poll: Poll<void, unknown>;
  private readonly _backend = document.createElement('select');
  private readonly _namespace = document.createElement('select');
  private readonly _namespaceLabel = document.createElement('label');
  private readonly _note = document.createElement('p');
  private _whereBar!: HTMLElement;
}

export namespace JobsPanel {
  export interface IOptions {
    /** Server settings; defaults to the page's base URL and token. */
    settings?: ServerConnection.ISettings;
    /** Poll interval in milliseconds while visible. */
    interval?: number;
    /** Log tabs and the active notebook. */
    host?: IPanelHost;
  }
}

/** One section of the panel: a heading with a count and a create button, an error, an empty state, a list. */
abstract class Section<T> {
  readonly node = el('section', 'jp-KFPanel-section');
  available = true;

  constructor(
    protected readonly panel: JobsPanel,
    readonly id: string,
    readonly title: string,
    private readonly _dataKey: string,
    create?: { label: string; aria: string; run: () => Promise<void> }
  ) {
    this.node.dataset.section = id;
    const heading = el('h3', 'jp-KFPanel-sectionTitle', title);
    heading.id = `${PANEL_ID}-${id}-heading`;
    this.node.setAttribute('aria-labelledby', heading.id);
    this._count.className = 'jp-KFPanel-count';
    heading.appendChild(this._count);
    const bar = el('div', 'jp-KFPanel-sectionHeader');
    bar.appendChild(heading);
    if (create) {
      const button = el('button', 'jp-KFPanel-iconButton jp-KFPanel-create');
      button.type = 'button';
      button.title = create.label;
      button.setAttribute('aria-label', create.aria);
      button.appendChild(iconElement(addIcon));
      button.addEventListener('click', () => {
        void (async () => {
          try {
            await create.run();
          } catch (error) {
            this.showError(messageOf(error));
          }
        })();
      });
      bar.appendChild(button);
    }

    this._error.className = 'jp-KFPanel-error';
    this._error.setAttribute('role', 'alert');
    this._error.hidden = true;
    this._notice.className = 'jp-KFPanel-notice';
    this._notice.setAttribute('role', 'alert');
    this._notice.hidden = true;
    this._noticeText.className = 'jp-KFPanel-noticeText';
    const dismiss = el(
      'button',
      'jp-KFPanel-iconButton jp-KFPanel-dismiss',
      '×'
    );
    dismiss.type = 'button';
    dismiss.setAttribute('aria-label', 'Dismiss this message');
    dismiss.addEventListener('click', () => this.showError(null));
    this._notice.append(this._noticeText, dismiss);
    this._empty.className = 'jp-KFPanel-empty';
    this._empty.setAttribute('role', 'status');
    this._empty.textContent = `Loading ${title.toLowerCase()}…`;
    this._list.className = 'jp-KFPanel-list';
    this._list.setAttribute('role', 'list');
    this._list.setAttribute('aria-labelledby', heading.id);
    this.node.append(bar, this._notice, this._error, this._empty, this._list);
  }

  get settings(): ServerConnection.ISettings {
    return this.panel.settings;
  }

  setAvailable(available: boolean): void {
    this.available = available;
    if (!available) {
      this._items = [];
      this._loaded = true;
      this.render();
    }
  }

  /** Forget the rows (the backend or namespace changed). */
  reset(): void {
    this._items = [];
    this._loaded = false;
    this._list.replaceChildren();
    this._rows.clear();
    this.showLoadError(null);
    this.showError(null);
    this._empty.hidden = false;
    this._empty.textContent = `Loading ${this.title.toLowerCase()}…`;
  }

  async load(where: IWhere): Promise<void> {
    try {
      this._items = await this.fetch(where);
      this._loaded = true;
      this.showLoadError(null);
    } catch (error) {
      this.showLoadError(
        `Could not load ${this.title.toLowerCase()}: ${messageOf(error)}`
      );
      throw error;
    } finally {
      this.render();
    }
  }

  /** Run an action; its failure shows in the section, the listing refreshes either way. */
  async act(what: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
      this.showError(null);
    } catch (error) {
      this.showError(`Could not ${what}: ${messageOf(error)}`);
    }
    void this.panel.refresh();
  }

  /** An action's outcome: stays until dismissed or the next action. */
  showError(message: string | null): void {
    this._notice.hidden = message === null;
    this._noticeText.textContent = message ?? '';
  }

  /** Why the listing could not be loaded: cleared by the next successful load. */
  showLoadError(message: string | null): void {
    this._error.hidden = message === null;
    this._error.textContent = message ?? '';
  }

  render(): void {
    const views = this._items.map(item => this.view(item));
    this._count.textContent =
      this._loaded && this.available ? ` (${views.length})` : '';
    const showEmpty = views.length === 0 && this._error.hidden;
    this._empty.hidden = !showEmpty;
    if (showEmpty && this._loaded) {
      this._empty.replaceChildren(...this.emptyState());
    }
    const seen = new Set<string>();
    views.forEach((view, index) => {
      seen.add(view.key);
      let row = this._rows.get(view.key);
      if (!row) {
        row = new Row(view.key, this._dataKey);
        this._rows.set(view.key, row);
      }
      row.update(view);
      const at = this._list.children[index] ?? null;
      if (at !== row.node) {
        this._list.insertBefore(row.node, at);
      }
    });
    for (const [key, row] of this._rows) {
      if (!seen.has(key)) {
        row.node.remove();
        this._rows.delete(key);
      }
    }
  }

  protected get where(): IWhere {
    return this.panel.where;
  }

  protected get onLocal(): boolean {
    return this.panel.where.backend !== 'kubernetes';
  }

  protected emptyWhere(): string {
    const where = this.panel.where;
    return where.backend === 'kubernetes'
      ? ` in namespace ${where.namespace ?? 'default'}`
      : ' on this machine';
  }

  protected unavailable(): (string | Node)[] {
    return [`${this.title} are not available in this version of jupyter_kf.`];
  }

  protected abstract fetch(where: IWhere): Promise<T[]>;
  protected abstract view(item: T): IRowView;
  protected abstract emptyState(): (string | Node)[];

  private _items: T[] = [];
  private _loaded = false;
  private readonly _rows = new Map<string, Row>();
  private readonly _count = document.createElement('span');
  private readonly _error = document.createElement('div');
  private readonly _notice = document.createElement('div');
  private readonly _noticeText = document.createElement('span');
  private readonly _empty = document.createElement('p');
  private readonly _list = document.createElement('ul');
}

class JobsSection extends Section<IJob> {
  constructor(panel: JobsPanel) {
    super(panel, 'jobs', 'Jobs', 'job', {
      label: 'New job from the active cell',
      aria: 'New training job from the active cell',
      run: () => this._create()
    });
  }

  protected fetch(where: IWhere): Promise<IJob[]> {
    return listJobs(this.settings, where);
  }

  protected emptyState(): (string | Node)[] {
    if (this.onLocal && !this.panel.info?.cluster_configured) {
      return [
        'No jobs yet. Run a cell with ',
        el('code', '', '%%kf_train'),
        ' — no cluster configured: jobs run on this machine.'
      ];
    }
    return [
      `No jobs${this.emptyWhere()}. Run a cell with `,
      el('code', '', '%%kf_train'),
      ' or press + to run the active cell as a job.'
    ];
  }

  protected view(job: IJob): IRowView {
    const where = { backend: job.backend };
    const name = job.name;
    const active = ACTIVE_PHASES.has(job.phase);
    const actions: IAction[] = [
      {
        id: 'logs',
        label: 'Logs',
        aria: `Show logs of job ${name}`,
        run: () => this.panel.host.openLogs(name, where)
      }
    ];
    if (active) {
      actions.push({
        id: 'cancel',
        label: 'Cancel',
        aria: `Cancel job ${name}`,
        busy: 'Cancelling…',
        danger: true,
        run: () =>
          this.act(`cancel ${name}`, () =>
            cancelJob(name, this.settings, where)
          )
      });
    }
    actions.push({
      id: 'attach',
      label: 'Attach',
      aria: `Attach results of job ${name} to the notebook`,
      run: () => this._attach(name)
    });
    if (!active) {
      actions.push({
        id: 'delete',
        label: 'Delete',
        aria: `Delete job ${name}`,
        busy: 'Deleting…',
        danger: true,
        run: async () => {
          if (
            await confirmLoss(
              `Delete job ${name}?`,
              `Its logs and results are deleted${job.backend === 'kubernetes' ? ' from the cluster and this machine' : ''}; results not attached to a notebook are lost.`,
              'Delete'
            )
          ) {
            await this.act(`delete ${name}`, () =>
              deleteJob(name, this.settings, where)
            );
          }
        }
      });
    }
    let message = job.message ?? '';
    if (job.pipeline) {
      message = `step ${job.pipeline.step} of pipeline run ${job.pipeline.run}${message ? ` · ${message}` : ''}`;
    }
    return {
      key: name,
      phase: job.phase,
      tone: JOB_TONES[job.phase] ?? 'unknown',
      created: job.created,
      times: timesTitle(job.created, job.started, job.finished),
      resources: describeJobResources(job),
      where: describeWhere(job.backend, job.kind, job.namespace),
      message,
      actions
    };
  }

  private _attach(name: string): void {
    const bridge = this.panel.host.bridge;
    if (!bridge || !bridge.insertCellBelow(`%kf_attach ${name}`)) {
      this.showError(
        `Open a notebook to attach the results of ${name}: no notebook is active.`
      );
      return;
    }
    this.showError(null);
  }

  private async _create(): Promise<void> {
    const bridge = this.panel.host.bridge;
    const cell = bridge?.activeCell() ?? {
      missing: 'Open a notebook and select the cell to run as a job.'
    };
    if ('missing' in cell) {
      this.showError(cell.missing);
      return;
    }
    const where = this.where;
    const values = await askForm(
      'Run the active cell as a job',
      [
        {
          name: 'name',
          label: 'Name',
          placeholder: 'train-xxxxx (generated)',
          help: 'Lowercase letters, digits and -'
        },
        {
          name: 'workers',
          label: 'Workers',
          type: 'number',
          min: 1,
          value: '1'
        },
        {
          name: 'gpus',
          label: 'GPUs per worker',
          type: 'number',
          min: 0,
          value: '0'
        },
        { name: 'cpu', label: 'CPU per worker', placeholder: '1 or 500m' },
        { name: 'memory', label: 'Memory per worker', placeholder: '2Gi' }
      ],
      'Run',
      `Runs on ${where.backend === 'kubernetes' ? `the cluster, namespace ${where.namespace}` : 'this machine'}; the cell's variables come from the notebook's kernel.`
    );
    if (!values) {
      return;
    }
    const args: string[] = [];
    for (const key of ['name', 'workers', 'gpus', 'cpu', 'memory']) {
      if (values[key]) {
        args.push(`--${key}`, values[key]);
      }
    }
    if (where.backend) {
      args.push('--backend', where.backend);
    }
    if (where.backend === 'kubernetes' && where.namespace) {
      args.push('--namespace', where.namespace);
    }
    args.push('--no-wait');
    if (cell.kernel) {
      const error = await trainInKernel(cell.kernel, cell.source, args);
      if (error) {
        this.showError(`Could not start the job: ${error}`);
      } else {
        this.showError(null);
      }
      void this.panel.refresh();
      return;
    }
    await this.act('start the job', () =>
      createJob({ ...values, source: cell.source }, this.settings, where)
    );
  }
}

class NotebooksSection extends Section<INotebookServer> {
  constructor(panel: JobsPanel) {
    super(panel, 'notebooks', 'Notebook servers', 'notebook', {
      label: 'New notebook server',
      aria: 'New notebook server',
      run: () => this._create()
    });
  }

  protected fetch(where: IWhere): Promise<INotebookServer[]> {
    return listNotebookServers(this.settings, where);
  }

  protected emptyState(): (string | Node)[] {
    if (!this.available) {
      return this.unavailable();
    }
    return [
      `No notebook servers${this.emptyWhere()}. Press + or run `,
      el('code', '', '%kf_notebook create NAME'),
      '.'
    ];
  }

  protected view(nb: INotebookServer): IRowView {
    const name = nb.name;
    const where = this.where;
    const actions: IAction[] = [];
    if (nb.phase === 'Ready') {
      actions.push({
        id: 'open',
        label: 'Open',
        aria: `Open notebook server ${name}`,
        run: async () => {
          const link = nb.url
            ? { url: nb.url }
            : await notebookUrl(name, this.settings, where);
          window.open(link.url, '_blank', 'noopener');
        }
      });
    }
    if (['Ready', 'Starting', 'Waiting'].includes(nb.phase)) {
      actions.push({
        id: 'stop',
        label: 'Stop',
        aria: `Stop notebook server ${name}`,
        busy: 'Stopping…',
        run: () =>
          this.act(`stop ${name}`, () =>
            notebookAction(name, 'stop', this.settings, where)
          )
      });
    }
    if (['Stopped', 'Error'].includes(nb.phase)) {
      actions.push({
        id: 'start',
        label: 'Start',
        aria: `Start notebook server ${name}`,
        busy: 'Starting…',
        run: () =>
          this.act(`start ${name}`, () =>
            notebookAction(name, 'start', this.settings, where)
          )
      });
    }
    actions.push({
      id: 'delete',
      label: 'Delete',
      aria: `Delete notebook server ${name}`,
      busy: 'Deleting…',
      danger: true,
      run: async () => {
        const choice = await askDeleteNotebook(name, nb.workspace);
        if (choice) {
          await this.act(`delete ${name}`, () =>
            deleteNotebookServer(name, choice === 'keep', this.settings, where)
          );
        }
      }
    });
    const r = nb.resources ?? {};
    const resources = [
      r.cpu ? `${r.cpu} CPU` : '',
      r.memory ?? '',
      r.gpus ? plural(r.gpus, 'GPU') : ''
    ]
      .filter(Boolean)
      .join(' · ');
    return {
      key: name,
      phase: nb.phase,
      tone: NOTEBOOK_TONES[nb.phase] ?? 'unknown',
      created: nb.created || null,
      times: nb.created ? `Created ${Time.format(nb.created)}` : '',
      resources: resources || nb.image,
      where: describeWhere(nb.backend, nb.kind || 'Notebook', nb.namespace),
      message: [nb.message, nb.reason, nb.phase === 'Ready' ? nb.hint : '']
        .filter(Boolean)
        .join(' · '),
      actions
    };
  }

  private async _create(): Promise<void> {
    const where = this.where;
    const values = await askForm(
      'New notebook server',
      [
        { name: 'name', label: 'Name', required: true, placeholder: 'gpu-lab' },
        { name: 'image', label: 'Image', placeholder: 'default image' },
        { name: 'cpu', label: 'CPU', placeholder: '1 or 500m' },
        { name: 'memory', label: 'Memory', placeholder: '2Gi' },
        { name: 'gpus', label: 'GPUs', type: 'number', min: 0, value: '0' },
        {
          name: 'workspace',
          label: 'Workspace',
          placeholder: '5Gi, pvc:CLAIM or none',
          help: 'A size for a new volume, an existing claim, or none'
        }
      ],
      'Create',
      `On ${where.backend === 'kubernetes' ? `the cluster, namespace ${where.namespace}` : 'this machine'}.`
    );
    if (!values) {
      return;
    }
    const body: Record<string, unknown> = { ...values };
    if (values.gpus) {
      body.gpus = Number(values.gpus);
    }
    await this.act('create the notebook server', () =>
      createNotebookServer(body, this.settings, where)
    );
  }
}

class ModelsSection extends Section<IModel> {
  constructor(panel: JobsPanel) {
    super(panel, 'models', 'Models', 'model', {
      label: 'Deploy a model',
      aria: 'Deploy a model from a URI',
      run: () => this._create()
    });
  }

  protected fetch(where: IWhere): Promise<IModel[]> {
    return listModels(this.settings, where);
  }

  protected emptyState(): (string | Node)[] {
    if (!this.available) {
      return this.unavailable();
    }
    return [
      `No models deployed${this.emptyWhere()}. Press + to deploy one from a URI.`
    ];
  }

  protected view(model: IModel): IRowView {
    const name = model.name;
    const where = this.where;
    const phase =
      model.phase ?? model.status ?? (model.ready ? 'Ready' : 'Pending');
    const actions: IAction[] = [];
    if (model.url) {
      const url = model.url;
      actions.push({
        id: 'open',
        label: 'Open URL',
        aria: `Open the URL of model ${name}`,
        run: () => window.open(url, '_blank', 'noopener')
      });
    }
    actions.push({
      id: 'delete',
      label: 'Undeploy',
      aria: `Undeploy model ${name}`,
      busy: 'Undeploying…',
      danger: true,
      run: async () => {
        if (
          await confirmLoss(
            `Undeploy model ${name}?`,
            'Its endpoint stops answering; the model files at its URI stay.',
            'Undeploy'
          )
        ) {
          await this.act(`undeploy ${name}`, () =>
            undeployModel(name, this.settings, where)
          );
        }
      }
    });
    const r = model.resources ?? {};
    return {
      key: name,
      phase,
      tone: MODEL_TONES[phase] ?? 'unknown',
      created: model.created ?? null,
      times: model.created ? `Created ${Time.format(model.created)}` : '',
      resources: [
        model.format ?? '',
        model.protocol ?? '',
        r.gpus ? plural(r.gpus, 'GPU') : ''
      ]
        .filter(Boolean)
        .join(' · '),
      where: describeWhere(
        model.backend ?? 'local',
        'InferenceService',
        model.namespace ?? null
      ),
      message: [
        model.url ?? '',
        model.traffic ?? '',
        ...(model.reasons ?? []),
        model.message ?? ''
      ]
        .filter(Boolean)
        .join(' · '),
      actions
    };
  }

  private async _create(): Promise<void> {
    const where = this.where;
    const values = await askForm(
      'Deploy a model',
      [
        { name: 'name', label: 'Name', required: true, placeholder: 'iris' },
        {
          name: 'uri',
          label: 'Model URI',
          required: true,
          placeholder: 's3://bucket/model, pvc://claim/path or a folder'
        },
        {
          name: 'format',
          label: 'Format',
          placeholder: 'sklearn, xgboost, pytorch, onnx… (detected)'
        },
        { name: 'gpus', label: 'GPUs', type: 'number', min: 0, value: '0' }
      ],
      'Deploy'
    );
    if (!values) {
      return;
    }
    const body: Record<string, unknown> = { ...values };
    if (values.gpus) {
      body.gpus = Number(values.gpus);
    }
    await this.act('deploy the model', () =>
      deployModel(body, this.settings, where)
    );
  }
}

class PipelinesSection extends Section<IPipelineRun> {
  constructor(panel: JobsPanel) {
    super(panel, 'pipelines', 'Pipeline runs', 'run');
  }

  protected fetch(): Promise<IPipelineRun[]> {
    return listPipelineRuns(this.settings);
  }

  protected emptyState(): (string | Node)[] {
    if (!this.available) {
      return this.unavailable();
    }
    return [
      'No pipeline runs on this machine. Run a notebook as a pipeline with ',
      el('code', '', 'kf.pipeline.run("notebook.ipynb")'),
      '.'
    ];
  }

  protected view(run: IPipelineRun): IRowView {
    const actions: IAction[] = [];
    if (run.phase === 'Running') {
      actions.push({
        id: 'cancel',
        label: 'Cancel',
        aria: `Cancel pipeline run ${run.id}`,
        busy: 'Cancelling…',
        danger: true,
        run: () =>
          this.act(`cancel ${run.id}`, () =>
            cancelPipelineRun(run.id, this.settings)
          )
      });
    }
    const done = run.steps.filter(s => s.phase === 'Succeeded').length;
    return {
      key: run.id,
      phase: run.phase,
      tone: JOB_TONES[run.phase] ?? 'unknown',
      created: run.created,
      times: run.created ? `Started ${Time.format(run.created)}` : '',
      resources: `${done}/${run.steps.length} steps${run.seconds != null ? ` · ${run.seconds.toFixed(1)} s` : ''}`,
      where: { text: 'local', title: 'Runs on this machine' },
      message: [run.pipeline, run.notebook.split('/').pop() ?? '']
        .filter(Boolean)
        .join(' · '),
      actions,
      steps: run.steps.map(s => ({ name: s.name, phase: s.phase, job: s.job }))
    };
  }
}

/** One row; its DOM is updated in place so focus survives polls. */
class Row {
  readonly node = el('li', 'jp-KFPanel-item');

  constructor(
    readonly key: string,
    dataKey: string
  ) {
    this.node.dataset[dataKey] = key;
    this.node.tabIndex = 0;

    const main = el('div', 'jp-KFPanel-itemMain');
    const label = el('span', 'jp-KFPanel-name', key);
    label.title = key;
    main.append(label, this._badge);
    this._badge.className = 'jp-KFPanel-badge';
    this._badge.append(this._badgeIcon, this._badgeLabel);

    const details = el('div', 'jp-KFPanel-details');
    this._age.className = 'jp-KFPanel-age';
    this._resources.className = 'jp-KFPanel-resources';
    this._where.className = 'jp-KFPanel-where';
    details.append(this._age, this._resources, this._where);

    this._message.className = 'jp-KFPanel-message';
    this._steps.className = 'jp-KFPanel-steps';
    this._steps.hidden = true;
    this._actions.className = 'jp-KFPanel-actions';

    this.node.append(main, details, this._message, this._steps, this._actions);
    this.node.setAttribute('aria-label', key);
  }

  update(view: IRowView): void {
    if (view.phase !== this._phase) {
      this._phase = view.phase;
      this.node.dataset.phase = view.phase;
      this._badge.dataset.phase = view.phase;
      this._badge.dataset.tone = view.tone;
      this._badgeLabel.textContent = view.phase;
      const icon = iconElement(toneIcons[view.tone] ?? toneIcons.unknown);
      icon.classList.add('jp-KFPanel-badgeIcon');
      this._badgeIcon.replaceWith(icon);
      this._badgeIcon = icon;
      this._busy.clear();
    }
    this._age.textContent = view.created ? Time.formatHuman(view.created) : '';
    this._age.dateTime = view.created ?? '';
    this._age.title = view.times ?? '';
    this._resources.textContent = view.resources;
    this._where.textContent = view.where.text;
    this._where.title = view.where.title;
    this._message.textContent = view.message;
    this._message.hidden = !view.message;
    this._updateSteps(view);
    this._updateActions(view.actions);
  }

  private _updateSteps(view: IRowView): void {
    const steps = view.steps ?? [];
    this._steps.hidden = steps.length === 0;
    const key = JSON.stringify(steps);
    if (key === this._stepsKey) {
      return;
    }
    this._stepsKey = key;
    this._steps.replaceChildren(
      ...steps.map(step => {
        const chip = el('button', 'jp-KFPanel-step', step.name);
        chip.type = 'button';
        chip.dataset.step = step.name;
        chip.dataset.tone = JOB_TONES[step.phase] ?? 'unknown';
        chip.title = `${step.name}: ${step.phase}${step.job ? ' — show its log' : ''}`;
        chip.setAttribute(
          'aria-label',
          `Step ${step.name}, ${step.phase}${step.job ? ': show its log' : ''}`
        );
        chip.disabled = !step.job;
        chip.addEventListener('click', () => {
          this.node.dispatchEvent(
            new CustomEvent('kf-open-logs', { bubbles: true, detail: step.job })
          );
        });
        return chip;
      })
    );
  }

  private _updateActions(actions: IAction[]): void {
    const wanted = new Set(actions.map(a => a.id));
    for (const [id, button] of this._buttons) {
      button.hidden = !wanted.has(id);
    }
    actions.forEach((action, index) => {
      let button = this._buttons.get(action.id);
      if (!button) {
        const created = el(
          'button',
          `jp-KFPanel-button jp-KFPanel-${action.id}`
        );
        created.type = 'button';
        if (action.danger) {
          created.classList.add('jp-mod-danger');
        }
        created.addEventListener('click', () => void this._run(action.id));
        this._buttons.set(action.id, created);
        button = created;
      }
      this._handlers.set(action.id, action);
      button.setAttribute('aria-label', action.aria);
      button.title = action.aria;
      const busy = this._busy.has(action.id);
      button.disabled = busy;
      button.textContent = busy && action.busy ? action.busy : action.label;
      const at = this._actions.children[index] ?? null;
      if (at !== button) {
        this._actions.insertBefore(button, at);
      }
    });
    this._actions.hidden = actions.length === 0;
  }

  private async _run(id: string): Promise<void> {
    const action = this._handlers.get(id);
    const button = this._buttons.get(id);
    if (!action || !button || this._busy.has(id)) {
      return;
    }
    this._busy.add(id);
    button.disabled = true;
    if (action.busy) {
      button.textContent = action.busy;
    }
    try {
      await action.run();
    } finally {
      this._busy.delete(id);
      if (!button.hidden) {
        button.disabled = false;
        button.textContent = this._handlers.get(id)?.label ?? action.label;
      }
    }
  }

  private _phase = '';
  private _stepsKey = '';
  private readonly _busy = new Set<string>();
  private readonly _buttons = new Map<string, HTMLButtonElement>();
  private readonly _handlers = new Map<string, IAction>();
  private readonly _badge = document.createElement('span');
  private _badgeIcon: HTMLElement = document.createElement('span');
  private readonly _badgeLabel = document.createElement('span');
  private readonly _age = document.createElement('time');
  private readonly _resources = document.createElement('span');
  private readonly _where = document.createElement('span');
  private readonly _message = document.createElement('div');
  private readonly _steps = document.createElement('div');
  private readonly _actions = document.createElement('div');
}

function describeJobResources(job: IJob): string {
  const r = job.resources ?? {};
  const parts = [
    plural(r.workers ?? Math.max(job.workers?.length ?? 1, 1), 'worker')
  ];
  if (r.gpus) {
    parts.push(plural(r.gpus, 'GPU'));
  }
  if (r.cpu) {
    parts.push(`${r.cpu} CPU`);
  }
  if (r.memory) {
    parts.push(r.memory);
  }
  return parts.join(' · ');
}

function describeWhere(
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

function timesTitle(
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

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function messageOf(error: unknown): string {
  if (error instanceof ServerConnection.NetworkError) {
    return 'the Jupyter server cannot be reached.';
  }
  return error instanceof Error ? error.message : String(error);
}

function iconElement(icon: LabIcon): HTMLElement {
  const node = icon.element({ tag: 'span' });
  node.setAttribute('aria-hidden', 'true');
  return node;
}
