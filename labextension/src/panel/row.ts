import { Time } from '@jupyterlab/coreutils';

import { el, iconElement } from '../dom';
import { toneIcons } from '../icons';
import { JOB_TONES, Tone } from './tones';

/** A button of a row: what it says, what it does, and what it says while it runs. */
export interface IAction {
  id: string;
  label: string;
  aria: string;
  busy?: string;
  danger?: boolean;
  run: () => Promise<unknown> | unknown;
}

/** A line under a row with its own buttons: a dataset's version, a lineage entry, a volume's mount. */
export interface IRowDetail {
  key: string;
  text: string;
  title?: string;
  /** What the line is (`version`, `lineage`, `mount`): its `data-kind`, for styles and tests. */
  kind?: string;
  actions?: IAction[];
}

/** What a section shows of one item, in the shape a `Row` renders. */
export interface IRowView {
  key: string;
  /** The name shown, where the key is not it (a section listing two kinds of item). */
  label?: string;
  /** The item's kind (`dataset`, `volume`): the row's `data-kind`. */
  kind?: string;
  phase: string;
  tone: Tone;
  created: string | null;
  times?: string;
  resources: string;
  where: { text: string; title: string };
  message: string;
  actions: IAction[];
  steps?: { name: string; phase: string; job: string }[];
  /** Progress bars (a worker each) its log is redrawing now. */
  progress?: HTMLElement[];
  /** Lines under the row (versions, lineage, mounts), each with its own buttons. */
  details?: IRowDetail[];
}

/** One row; its DOM is updated in place so focus survives polls. */
export class Row {
  readonly node = el('li', 'jp-KFPanel-item');

  constructor(
    readonly key: string,
    dataKey: string
  ) {
    this.node.dataset[dataKey] = key;
    this.node.tabIndex = 0;

    const main = el('div', 'jp-KFPanel-itemMain');
    this._label.className = 'jp-KFPanel-name';
    this._label.textContent = key;
    this._label.title = key;
    main.append(this._label, this._badge);
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

    this._progress.className = 'jp-KFPanel-progress';
    this._subitems.className = 'jp-KFPanel-subitems';
    this._subitems.hidden = true;
    this.node.append(
      main,
      details,
      this._progress,
      this._message,
      this._steps,
      this._subitems,
      this._actions
    );
    this.node.setAttribute('aria-label', key);
  }

  update(view: IRowView): void {
    const label = view.label ?? this.key;
    if (this._label.textContent !== label) {
      this._label.textContent = label;
      this._label.title = label;
      this.node.setAttribute('aria-label', label);
    }
    if (view.kind) {
      this.node.dataset.kind = view.kind;
    }
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
    this._progress.replaceChildren(...(view.progress ?? []));
    this._progress.hidden = !view.progress?.length;
    this._updateSteps(view);
    this._updateDetails(view.details ?? []);
    this._updateActions(view.actions);
  }

  private readonly _progress = el('div', 'jp-KFPanel-progress');

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

  /** Sub-lines are rebuilt only when what they say changes; their buttons call the latest handlers. */
  private _updateDetails(details: IRowDetail[]): void {
    this._subitems.hidden = details.length === 0;
    this._detailHandlers.clear();
    for (const detail of details) {
      for (const action of detail.actions ?? []) {
        this._detailHandlers.set(`${detail.key}/${action.id}`, action);
      }
    }
    const key = JSON.stringify(
      details.map(d => [
        d.key,
        d.text,
        d.title,
        d.kind,
        (d.actions ?? []).map(a => [a.id, a.label, a.aria])
      ])
    );
    if (key === this._detailsKey) {
      return;
    }
    this._detailsKey = key;
    this._subitems.replaceChildren(
      ...details.map(detail => {
        const line = el('li', 'jp-KFPanel-subitem');
        line.dataset.sub = detail.key;
        if (detail.kind) {
          line.dataset.kind = detail.kind;
        }
        const text = el('span', 'jp-KFPanel-subitemText', detail.text);
        text.title = detail.title ?? detail.text;
        line.appendChild(text);
        for (const action of detail.actions ?? []) {
          line.appendChild(
            this._detailButton(`${detail.key}/${action.id}`, action)
          );
        }
        return line;
      })
    );
  }

  private _detailButton(id: string, action: IAction): HTMLButtonElement {
    const button = el(
      'button',
      `jp-KFPanel-button jp-KFPanel-subButton jp-KFPanel-${action.id}`,
      action.label
    );
    button.type = 'button';
    button.setAttribute('aria-label', action.aria);
    button.title = action.aria;
    if (action.danger) {
      button.classList.add('jp-mod-danger');
    }
    button.addEventListener('click', () => {
      const current = this._detailHandlers.get(id) ?? action;
      button.disabled = true;
      if (current.busy) {
        button.textContent = current.busy;
      }
      void Promise.resolve(current.run()).finally(() => {
        button.disabled = false;
        button.textContent = current.label;
      });
    });
    return button;
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
  private _detailsKey = '';
  private readonly _detailHandlers = new Map<string, IAction>();
  private readonly _label = document.createElement('span');
  private readonly _subitems = document.createElement('ul');
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
