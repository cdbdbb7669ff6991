import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { el } from './dom';
import { jobEvents } from './jobEvents';
import { IProgress, parseProgress, progressNode } from './progress';
import { kubeflowIcon } from './icons';
import { DEFAULT_PREFERENCES } from './preferences';
import { IWhere, streamLogs } from './request';

/**
 * A job's log in a main-area tab: streamed from the server while the job runs,
 * searchable (matches highlighted, Enter jumps to the next one) and followed
 * (scrolled to the end as lines come) until the user scrolls up.
 */
export class LogViewer extends Widget {
  constructor(
    readonly job: string,
    private readonly _settings: ServerConnection.ISettings,
    private readonly _where: IWhere = {},
    maxLines: number = DEFAULT_PREFERENCES.logLines
  ) {
    super();
    this.addClass('jp-KFLog');
    this._maxLines = maxLines;
    this.id = LogViewer.idFor(job);

    const toolbar = el('div', 'jp-KFLog-toolbar');
    toolbar.setAttribute('role', 'toolbar');
    toolbar.setAttribute('aria-label', `Log of job ${job}`);

    const searchLabel = el('label', 'jp-KFLog-searchLabel');
    searchLabel.append('Search ');
    this._search.type = 'search';
    this._search.className = 'jp-KFLog-search jp-mod-styled';
    this._search.placeholder = 'text in the log';
    this._search.setAttribute('aria-label', 'Search the log');
    this._search.addEventListener('input', () => this._highlight());
    this._search.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this._jump(event.shiftKey ? -1 : 1);
        event.preventDefault();
      }
    });
    searchLabel.appendChild(this._search);
    this._matches.className = 'jp-KFLog-matches';
    this._matches.setAttribute('aria-live', 'polite');

    const followLabel = el('label', 'jp-KFLog-followLabel');
    this._follow.type = 'checkbox';
    this._follow.checked = true;
    this._follow.className = 'jp-KFLog-follow';
    this._follow.addEventListener('change', () => {
      if (this._follow.checked) {
        this._scrollToEnd();
      }
    });
    followLabel.append(this._follow, ' Follow');

    this._state.className = 'jp-KFLog-state';
    this._state.setAttribute('role', 'status');
    this._state.textContent = 'Connecting…';

    toolbar.append(searchLabel, this._matches, followLabel, this._state);

    this._body.className = 'jp-KFLog-body';
    this._body.tabIndex = 0;
    this._body.setAttribute('role', 'log');
    this._body.setAttribute('aria-label', `Log lines of job ${job}`);
    this._body.addEventListener('scroll', () => {
      const atEnd =
        this._body.scrollHeight -
          this._body.scrollTop -
          this._body.clientHeight <
        8;
      if (!atEnd && this._follow.checked && !this._autoScrolling) {
        this._follow.checked = false;
      }
      this._autoScrolling = false;
    });
    this._bars.className = 'jp-KFLog-progress';
    this._pending.className = 'jp-KFLog-pending';
    this._pending.setAttribute('aria-label', 'Lines being redrawn');
    this.node.append(toolbar, this._bars, this._body, this._pending);
  }

  /** The backend and namespace the log is read from (kept in the layout, so a reload reopens the same log). */
  get where(): IWhere {
    return { ...this._where };
  }

  static idFor(job: string): string {
    return `jupyter-kf-logs-${job}`;
  }

  /** Lines kept: a long job's log must not grow the page without bound; older lines go first. */
  get maxLines(): number {
    return this._maxLines;
  }

  set maxLines(value: number) {
    this._maxLines = value;
    this._trim();
    if (this._search.value) {
      this._countMatches();
    }
  }

  /** The lines shown (for tests and copy). */
  get lines(): string[] {
    return Array.from(this._body.children).map(n => n.textContent ?? '');
  }

  dispose(): void {
    this._abort.abort();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._started) {
      this._started = true;
      void this._run();
    }
  }

  private async _run(): Promise<void> {
    try {
      await streamLogs(
        this.job,
        {
          lines: lines => this._append(lines),
          pending: pending => this._showPending(pending),
          status: job => {
            this._state.textContent = job.phase;
            this._state.dataset.phase = job.phase;
            this._workers = job.resources?.workers ?? 1;
            jobEvents.emit({
              name: this.job,
              backend: job.backend,
              phase: job.phase,
              job
            });
          },
          end: phase => {
            this._state.textContent = `${phase} · end of log`;
            this._state.dataset.phase = phase;
            this.node.dataset.ended = 'true';
            this._showPending([]);
            jobEvents.emit({
              name: this.job,
              backend: this._where.backend,
              phase
            });
          },
          error: message => this._showError(message)
        },
        this._abort.signal,
        this._settings,
        this._where
      );
    } catch (error) {
      this._showError(error instanceof Error ? error.message : String(error));
    }
  }

  /** Lines still being redrawn, under the log (their last state), and their progress bars above it. */
  private _showPending(pending: Array<[number, string]>): void {
    const several = this._workers > 1;
    this._pending.replaceChildren(
      ...pending.map(([rank, text]) =>
        el('div', 'jp-KFLog-pendingLine', several ? `[${rank}] ${text}` : text)
      )
    );
    const bars = pending
      .map(([rank, text]) => parseProgress(rank, text))
      .filter((bar): bar is IProgress => bar !== null);
    this._bars.replaceChildren(
      ...bars.map(bar =>
        progressNode(bar, several ? `worker ${bar.rank}` : 'progress')
      )
    );
    jobEvents.emitProgress(this.job, bars);
    if (this._follow.checked) {
      this._scrollToEnd();
    }
  }

  private _showError(message: string): void {
    this._state.textContent = `Error: ${message}`;
    this._state.dataset.phase = 'Failed';
  }

  private _append(lines: string[]): void {
    const query = this._search.value;
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      const node = el('div', 'jp-KFLog-line', line);
      if (query && line.includes(query)) {
        node.classList.add('jp-KFLog-match');
      }
      fragment.appendChild(node);
    }
    this._body.appendChild(fragment);
    this._trim();
    if (query) {
      this._countMatches();
    }
    if (this._follow.checked) {
      this._scrollToEnd();
    }
  }

  private _trim(): void {
    while (this._body.childElementCount > this._maxLines) {
      this._body.firstElementChild!.remove();
    }
  }

  private _scrollToEnd(): void {
    this._autoScrolling = true;
    this._body.scrollTop = this._body.scrollHeight;
  }

  private _highlight(): void {
    const query = this._search.value;
    for (const node of Array.from(this._body.children)) {
      node.classList.toggle(
        'jp-KFLog-match',
        query.length > 0 && (node.textContent ?? '').includes(query)
      );
      node.classList.remove('jp-KFLog-current');
    }
    this._current = -1;
    this._countMatches();
  }

  private _countMatches(): void {
    const count = this._body.querySelectorAll('.jp-KFLog-match').length;
    this._matches.textContent = this._search.value
      ? `${count} match${count === 1 ? '' : 'es'}`
      : '';
  }

  private _jump(step: number): void {
    const matches = Array.from(
      this._body.querySelectorAll<HTMLElement>('.jp-KFLog-match')
    );
    if (matches.length === 0) {
      return;
    }
    matches[this._current]?.classList.remove('jp-KFLog-current');
    this._current = (this._current + step + matches.length) % matches.length;
    const node = matches[this._current];
    node.classList.add('jp-KFLog-current');
    this._follow.checked = false;
    node.scrollIntoView({ block: 'center' });
  }

  private readonly _abort = new AbortController();
  private readonly _search = document.createElement('input');
  private readonly _matches = document.createElement('span');
  private readonly _follow = document.createElement('input');
  private readonly _state = document.createElement('span');
  private readonly _body = document.createElement('div');
  private readonly _bars = document.createElement('div');
  private readonly _pending = document.createElement('div');
  private _workers = 1;
  private _maxLines: number;
  private _started = false;
  private _autoScrolling = false;
  private _current = -1;
}

/** A log viewer wrapped for the main area, titled with the job's name. */
export function createLogTab(
  job: string,
  settings: ServerConnection.ISettings,
  where: IWhere = {},
  maxLines?: number
): MainAreaWidget<LogViewer> {
  const content = new LogViewer(job, settings, where, maxLines);
  const widget = new MainAreaWidget({ content });
  widget.id = `${content.id}-tab`;
  widget.title.label = `Log: ${job}`;
  widget.title.caption = `Log of job ${job}`;
  widget.title.icon = kubeflowIcon;
  widget.title.closable = true;
  return widget;
}
