import { Time } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { kubeflowIcon, phaseIcons, unknownPhaseIcon } from './icons';
import { ACTIVE_PHASES, IJob, cancelJob, listJobs } from './request';

export const PANEL_ID = 'jupyter-kf-panel';

/**
 * The Kubeflow sidebar: lists jobs from `GET jupyter-kf/api/jobs`, polled
 * while the panel is visible, and cancels active ones.
 */
export class JobsPanel extends Widget {
  constructor(options: JobsPanel.IOptions = {}) {
    super();
    this._settings = options.settings ?? ServerConnection.makeSettings();
    this.id = PANEL_ID;
    this.title.icon = kubeflowIcon;
    this.title.caption = 'Kubeflow';
    this.addClass('jp-KFPanel');
    this._buildDom();
    this._poll = new Poll<void, unknown>({
      name: 'jupyter-kf:jobs',
      factory: () => this._load(),
      frequency: {
        interval: options.interval ?? 2000,
        backoff: true,
        max: 30 * 1000
      },
      standby: () => !this.isVisible || 'when-hidden'
    });
  }

  /** Fetch the job list now instead of waiting for the next tick. */
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
    refresh.title = 'Refresh jobs';
    refresh.setAttribute('aria-label', 'Refresh jobs');
    refresh.appendChild(iconElement(refreshIcon));
    refresh.addEventListener('click', () => void this.refresh());
    header.append(title, refresh);

    const section = el('section', 'jp-KFPanel-section');
    const heading = el('h3', 'jp-KFPanel-sectionTitle', 'Jobs');
    heading.id = `${PANEL_ID}-jobs-heading`;
    section.setAttribute('aria-labelledby', heading.id);
    heading.appendChild(this._count);
    this._count.className = 'jp-KFPanel-count';

    this._error.className = 'jp-KFPanel-error';
    this._error.setAttribute('role', 'alert');
    this._error.hidden = true;

    this._empty.className = 'jp-KFPanel-empty';
    this._empty.setAttribute('role', 'status');
    this._empty.textContent = 'Loading jobs…';

    this._list.className = 'jp-KFPanel-list';
    this._list.setAttribute('role', 'list');
    this._list.setAttribute('aria-labelledby', heading.id);
    this._list.addEventListener('keydown', event => this._onKeyDown(event));

    section.append(heading, this._error, this._empty, this._list);
    this.node.append(header, section);
  }

  private async _load(): Promise<void> {
    try {
      this._jobs = await listJobs(this._settings);
      this._loaded = true;
      this._showError(null);
    } catch (error) {
      this._showError(`Could not load jobs: ${messageOf(error)}`);
      throw error; // rejected ticks make the poll back off
    } finally {
      this._render();
    }
  }

  private _render(): void {
    const jobs = [...this._jobs].sort(
      (a, b) => timestamp(b.created) - timestamp(a.created)
    );
    this._count.textContent = this._loaded ? ` (${jobs.length})` : '';

    const showEmpty = jobs.length === 0 && this._error.hidden;
    this._empty.hidden = !showEmpty;
    if (showEmpty && this._loaded) {
      this._empty.replaceChildren(
        'No jobs yet. Run a cell with ',
        el('code', '', '%%kf_train'),
        ' — no cluster configured: jobs run on this machine.'
      );
    }

    const seen = new Set<string>();
    jobs.forEach((job, index) => {
      seen.add(job.name);
      let row = this._rows.get(job.name);
      if (!row) {
        row = new JobRow(job.name, name => this._cancel(name));
        this._rows.set(job.name, row);
      }
      row.update(job);
      const at = this._list.children[index] ?? null;
      if (at !== row.node) {
        this._list.insertBefore(row.node, at);
      }
    });
    for (const [name, row] of this._rows) {
      if (!seen.has(name)) {
        row.node.remove();
        this._rows.delete(name);
      }
    }
  }

  private async _cancel(name: string): Promise<void> {
    try {
      const job = await cancelJob(name, this._settings);
      this._jobs = this._jobs.map(j => (j.name === job.name ? job : j));
      this._showError(null);
      this._render();
    } catch (error) {
      this._showError(`Could not cancel ${name}: ${messageOf(error)}`);
    }
    void this.refresh();
  }

  private _showError(message: string | null): void {
    this._error.hidden = message === null;
    this._error.textContent = message ?? '';
  }

  /** Up/Down arrows move between rows, as in JupyterLab's other lists. */
  private _onKeyDown(event: KeyboardEvent): void {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') {
      return;
    }
    const rows = Array.from(this._list.children) as HTMLElement[];
    const current = rows.findIndex(row => row.contains(document.activeElement));
    const next = current + (event.key === 'ArrowDown' ? 1 : -1);
    if (next >= 0 && next < rows.length) {
      rows[next].focus();
      event.preventDefault();
    }
  }

  private readonly _settings: ServerConnection.ISettings;
  private readonly _poll: Poll<void, unknown>;
  private readonly _rows = new Map<string, JobRow>();
  private readonly _count = document.createElement('span');
  private readonly _error = document.createElement('div');
  private readonly _empty = document.createElement('p');
  private readonly _list = document.createElement('ul');
  private _jobs: IJob[] = [];
  private _loaded = false;
}

export namespace JobsPanel {
  export interface IOptions {
    /** Server settings; defaults to the page's base URL and token. */
    settings?: ServerConnection.ISettings;
    /** Poll interval in milliseconds while visible. */
    interval?: number;
  }
}

/** One job in the list; its DOM is updated in place so focus survives polls. */
class JobRow {
  readonly node = el('li', 'jp-KFPanel-item');

  constructor(
    readonly name: string,
    private readonly _onCancel: (name: string) => Promise<void>
  ) {
    this.node.dataset.job = name;
    this.node.tabIndex = 0;

    const main = el('div', 'jp-KFPanel-itemMain');
    const label = el('span', 'jp-KFPanel-name', name);
    label.title = name;
    main.append(label, this._badge);
    this._badge.className = 'jp-KFPanel-badge';
    this._badge.append(this._badgeIcon, this._badgeLabel);

    const details = el('div', 'jp-KFPanel-details');
    this._age.className = 'jp-KFPanel-age';
    this._resources.className = 'jp-KFPanel-resources';
    this._where.className = 'jp-KFPanel-where';
    details.append(this._age, this._resources, this._where);

    this._message.className = 'jp-KFPanel-message';

    this._cancel.type = 'button';
    this._cancel.className = 'jp-KFPanel-button jp-KFPanel-cancel';
    this._cancel.textContent = 'Cancel';
    this._cancel.setAttribute('aria-label', `Cancel job ${name}`);
    this._cancel.addEventListener('click', () => void this._onClickCancel());
    const actions = el('div', 'jp-KFPanel-actions');
    actions.appendChild(this._cancel);
    this._actions = actions;

    this.node.append(main, details, this._message, actions);
  }

  update(job: IJob): void {
    if (job.phase !== this._phase) {
      this._phase = job.phase;
      this.node.dataset.phase = job.phase;
      this._badge.dataset.phase = job.phase;
      this._badgeLabel.textContent = job.phase;
      const icon = iconElement(phaseIcons[job.phase] ?? unknownPhaseIcon);
      icon.classList.add('jp-KFPanel-badgeIcon');
      this._badgeIcon.replaceWith(icon);
      this._badgeIcon = icon;
    }

    this._age.textContent = job.created ? Time.formatHuman(job.created) : '';
    this._age.dateTime = job.created ?? '';
    this._age.title = timesTitle(job);
    this._resources.textContent = describeResources(job);
    const where = describeWhere(job);
    this._where.textContent = where.text;
    this._where.title = where.title;

    this._message.textContent = job.message ?? '';
    this._message.hidden = !job.message;

    const active = ACTIVE_PHASES.has(job.phase);
    this._actions.hidden = !active;
    if (!active) {
      this._cancelling = false;
    }
    this._cancel.disabled = this._cancelling;
    this._cancel.textContent = this._cancelling ? 'Cancelling…' : 'Cancel';
  }

  private async _onClickCancel(): Promise<void> {
    this._cancelling = true;
    this._cancel.disabled = true;
    this._cancel.textContent = 'Cancelling…';
    await this._onCancel(this.name);
    if (ACTIVE_PHASES.has(this._phase)) {
      this._cancelling = false;
      this._cancel.disabled = false;
      this._cancel.textContent = 'Cancel';
    }
  }

  private _phase = '';
  private _cancelling = false;
  private readonly _badge = document.createElement('span');
  private _badgeIcon: HTMLElement = document.createElement('span');
  private readonly _badgeLabel = document.createElement('span');
  private readonly _age = document.createElement('time');
  private readonly _resources = document.createElement('span');
  private readonly _where = document.createElement('span');
  private readonly _message = document.createElement('div');
  private readonly _cancel = document.createElement('button');
  private readonly _actions: HTMLElement;
}

function describeResources(job: IJob): string {
  const r = job.resources ?? {};
  const parts = [
    plural(r.workers ?? Math.max(job.workers.length, 1), 'worker')
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

function describeWhere(job: IJob): { text: string; title: string } {
  if (job.backend === 'local') {
    return { text: 'local', title: 'Runs on this machine' };
  }
  const namespace = job.namespace ?? 'default';
  return {
    text: `${job.kind} · ${namespace}`,
    title: `Runs on Kubernetes as a ${job.kind} in namespace ${namespace}`
  };
}

function timesTitle(job: IJob): string {
  const lines: string[] = [];
  if (job.created) {
    lines.push(`Created ${Time.format(job.created)}`);
  }
  if (job.started) {
    lines.push(`Started ${Time.format(job.started)}`);
  }
  if (job.finished) {
    lines.push(`Finished ${Time.format(job.finished)}`);
  }
  return lines.join('\n');
}

function timestamp(iso: string | null): number {
  const value = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(value) ? 0 : value;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function messageOf(error: unknown): string {
  if (error instanceof ServerConnection.NetworkError) {
    return 'the Jupyter server cannot be reached.';
  }
  return error instanceof Error ? error.message : String(error);
}

function iconElement(icon: typeof kubeflowIcon): HTMLElement {
  const node = icon.element({ tag: 'span' });
  node.setAttribute('aria-hidden', 'true');
  return node;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
