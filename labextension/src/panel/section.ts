import { ServerConnection } from '@jupyterlab/services';
import { addIcon } from '@jupyterlab/ui-components';

import { el, iconElement } from '../dom';
import { IServerInfo, IWhere } from '../request';
import { messageOf } from './format';
import type { IPanelHost } from './panel';
import { IRowView, Row } from './row';

/** What a section uses of the panel it sits in. */
export interface ISectionHost {
  /** The panel's DOM id, the prefix of the sections' heading ids. */
  readonly id: string;
  readonly settings: ServerConnection.ISettings;
  readonly host: IPanelHost;
  readonly info: IServerInfo | null;
  readonly where: IWhere;
  refresh(): Promise<void>;
}

/** One section of the panel: a heading with a count and a create button, an error, an empty state, a list. */
export abstract class Section<T> {
  readonly node = el('section', 'jp-KFPanel-section');
  available = true;

  constructor(
    protected readonly panel: ISectionHost,
    readonly id: string,
    readonly title: string,
    private readonly _dataKey: string,
    create?: { label: string; aria: string; run: () => Promise<void> }
  ) {
    this.node.dataset.section = id;
    const heading = el('h3', 'jp-KFPanel-sectionTitle', title);
    heading.id = `${panel.id}-${id}-heading`;
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

  /** Put `line` (e.g. `%kf_attach NAME`) in a new cell under the active one; without a notebook, say so. */
  protected insertInNotebook(line: string, what: string): void {
    const bridge = this.panel.host.bridge;
    if (!bridge || !bridge.insertCellBelow(line)) {
      this.showError(`Open a notebook to ${what}: no notebook is active.`);
      return;
    }
    this.showError(null);
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

  /** The rows' items as last loaded or patched. */
  protected get items(): readonly T[] {
    return this._items;
  }

  /** Replace the items (an event said more than the last listing) and redraw the rows. */
  protected patchItems(items: T[]): void {
    this._items = items;
    this.render();
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
