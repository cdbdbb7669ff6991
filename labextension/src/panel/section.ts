import { ServerConnection } from '@jupyterlab/services';
import { addIcon } from '@jupyterlab/ui-components';

import { el, iconElement } from '../dom';
import { IServerInfo, IWhere } from '../request';
import { messageOf } from './format';
import type { IPanelHost } from './panel';
import { IRowView, Row } from './row';
import {
  FIRST_ESTIMATE,
  IRange,
  WINDOW_FROM,
  measureRowHeight,
  scrollerOf,
  visibleRange
} from './window';

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
    const count = this._items.length;
    this._count.textContent =
      this._loaded && this.available ? ` (${count})` : '';
    const showEmpty = count === 0 && this._error.hidden;
    this._empty.hidden = !showEmpty;
    if (showEmpty && this._loaded) {
      this._empty.replaceChildren(...this.emptyState());
    }
    this._renderRows();
  }

  /** Put the rows in view (all of a short list) in the DOM, updating those already there in place. */
  private _renderRows(): void {
    const count = this._items.length;
    const range = visibleRange(
      count,
      this._rowHeight,
      this._list,
      this._scroller
    );
    this._range = range;
    const views = this._items
      .slice(range.start, range.end)
      .map(item => this.view(item));
    const keys = new Set(views.map(view => view.key));
    // Rows leaving go first, so the rows that stay are never moved (a moved row would lose its focus).
    for (const [key, row] of this._rows) {
      if (!keys.has(key)) {
        row.node.remove();
        this._rows.delete(key);
      }
    }
    views.forEach((view, index) => {
      let row = this._rows.get(view.key);
      if (!row) {
        row = new Row(view.key, this._dataKey);
        this._rows.set(view.key, row);
      }
      row.update(view);
      row.node.setAttribute('aria-posinset', String(range.start + index + 1));
      row.node.setAttribute('aria-setsize', String(count));
      const at = this._list.children[index] ?? null;
      if (at !== row.node) {
        this._list.insertBefore(row.node, at);
      }
    });
    this._padOutside(range, count);
  }

  /** The padding stands in for the rows outside the window; a long list starts following the scroll. */
  private _padOutside(range: IRange, count: number): void {
    if (count <= WINDOW_FROM) {
      this._list.style.paddingTop = '';
      this._list.style.paddingBottom = '';
      return;
    }
    this._rowHeight = measureRowHeight(this._list, this._rowHeight);
    this._list.style.paddingTop = `${range.start * this._rowHeight}px`;
    this._list.style.paddingBottom = `${(count - range.end) * this._rowHeight}px`;
    if (!this._scroller && this.node.isConnected) {
      this._followScroll(scrollerOf(this.node));
    }
  }

  /** Scrolling or resizing re-renders the window at the next frame, only when it moved. */
  private _followScroll(scroller: Element | null): void {
    if (!scroller) {
      return;
    }
    this._scroller = scroller;
    let pending = false;
    const moved = () => {
      if (pending) {
        return;
      }
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        const next = visibleRange(
          this._items.length,
          this._rowHeight,
          this._list,
          scroller
        );
        if (next.start !== this._range.start || next.end !== this._range.end) {
          this._renderRows();
        }
      });
    };
    scroller.addEventListener('scroll', moved, { passive: true });
    if (typeof ResizeObserver !== 'undefined') {
      new ResizeObserver(moved).observe(scroller); // the sidebar resized: more or fewer rows in view
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
  private _range: IRange = { start: 0, end: 0 };
  private _rowHeight = FIRST_ESTIMATE;
  private _scroller: Element | null = null;
  private readonly _count = document.createElement('span');
  private readonly _error = document.createElement('div');
  private readonly _notice = document.createElement('div');
  private readonly _noticeText = document.createElement('span');
  private readonly _empty = document.createElement('p');
  private readonly _list = document.createElement('ul');
}
