import { ServerConnection } from '@jupyterlab/services';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { IPoll, Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { el, iconElement } from '../dom';
import { kubeflowIcon } from '../icons';
import { NotebookBridge } from '../notebookBridge';
import { DEFAULT_PREFERENCES, IPreferences } from '../preferences';
import { IServerInfo, IWhere, getInfo } from '../request';
import { DataSection } from './data';
import { ExperimentsSection } from './experiments';
import { messageOf } from './format';
import { JobsSection } from './jobs';
import { ModelsSection } from './models';
import { NotebooksSection } from './notebooks';
import { PipelinesSection } from './pipelines';
import { Section } from './section';

export const PANEL_ID = 'jupyter-kf-panel';

/** What the panel does for its rows: actions reach the server, a notebook, the main area. */
export interface IPanelHost {
  openLogs(job: string, where: IWhere): void;
  bridge: NotebookBridge | null;
}

/**
 * The Kubeflow sidebar: Jobs, Notebook servers, Models, Pipeline runs,
 * Experiments and Data, for the chosen backend and namespace, polled from the
 * server's shared cache while the panel is visible, with the actions each row
 * allows.
 */
export class JobsPanel extends Widget {
  constructor(options: JobsPanel.IOptions = {}) {
    super();
    this.settings = options.settings ?? ServerConnection.makeSettings();
    this.host = options.host ?? { openLogs: () => undefined, bridge: null };
    this._preferences = { ...(options.preferences ?? DEFAULT_PREFERENCES) };
    this.id = PANEL_ID;
    this.title.icon = kubeflowIcon;
    this.title.caption = 'Kubeflow';
    this.addClass('jp-KFPanel');
    this.sections = [
      new JobsSection(this),
      new NotebooksSection(this),
      new ModelsSection(this),
      new PipelinesSection(this),
      new ExperimentsSection(this),
      new DataSection(this)
    ];
    this._buildDom();
    this._poll = new Poll<void, unknown>({
      name: 'jupyter-kf:panel',
      factory: () => this._load(),
      frequency: Private.frequency(this._preferences.refreshInterval),
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

  /** The preferences in use (see `configure`). */
  get preferences(): Readonly<IPreferences> {
    return this._preferences;
  }

  /**
   * Apply changed preferences at once: the poll follows a new refresh
   * interval from now on, a changed default backend or namespace is selected
   * when the server offers it.
   */
  configure(preferences: IPreferences): void {
    const old = this._preferences;
    this._preferences = { ...preferences };
    if (preferences.refreshInterval !== old.refreshInterval) {
      this._poll.frequency = Private.frequency(preferences.refreshInterval);
      void this._poll.schedule({ interval: this._poll.frequency.interval });
      this._showInterval();
    }
    if (
      this.info &&
      (preferences.defaultBackend !== old.defaultBackend ||
        preferences.defaultNamespace !== old.defaultNamespace)
    ) {
      const before = JSON.stringify(this.where);
      this._selectDefaults(this.info);
      if (JSON.stringify(this.where) !== before) {
        this._whereChanged();
      }
    }
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
    const refresh = this._refreshButton;
    refresh.className = 'jp-KFPanel-iconButton jp-KFPanel-refresh';
    refresh.type = 'button';
    this._showInterval();
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

  /** The refresh button's tooltip says how often the panel refreshes by itself. */
  private _showInterval(): void {
    this._refreshButton.title = `Refresh (every ${this._preferences.refreshInterval} s)`;
  }

  /** Select the preferred backend and namespace where the server offers them, else the server's own. */
  private _selectDefaults(info: IServerInfo): void {
    const { defaultBackend, defaultNamespace } = this._preferences;
    Private.select(
      this._backend,
      info.backends.includes(defaultBackend) ? defaultBackend : info.backend
    );
    Private.select(
      this._namespace,
      info.namespaces.includes(defaultNamespace)
        ? defaultNamespace
        : info.namespace
    );
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
        return option;
      })
    );
    this._namespace.replaceChildren(
      ...info.namespaces.map(name => {
        const option = el('option', '', name);
        option.value = name;
        return option;
      })
    );
    this._selectDefaults(info);
    this._whereBar.hidden = false;
    this._syncNamespace();
    for (const section of this.sections) {
      section.setAvailable(
        info.sections[section.id as keyof IServerInfo['sections']] ?? false
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
  private _preferences: IPreferences;
  private readonly _refreshButton = document.createElement('button');
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
    /** Refresh interval, default backend and namespace; later changes go through `configure`. */
    preferences?: IPreferences;
    /** Log tabs and the active notebook. */
    host?: IPanelHost;
  }
}

namespace Private {
  /** Poll every `seconds` while visible; after failures back off up to 30 s (or the interval, if longer). */
  export function frequency(seconds: number): IPoll.Frequency {
    const interval = Math.max(Math.round(seconds * 1000), 0);
    return { interval, backoff: true, max: Math.max(interval, 30 * 1000) };
  }

  /** Select the option with this value; none has it: the first (as a new select does). */
  export function select(node: HTMLSelectElement, value: string | null): void {
    for (const option of Array.from(node.options)) {
      option.selected = option.value === value;
    }
  }
}
