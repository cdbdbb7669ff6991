import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

/** One input of a create form. */
export interface IField {
  name: string;
  label: string;
  placeholder?: string;
  value?: string;
  type?: 'text' | 'number';
  min?: number;
  help?: string;
  required?: boolean;
}

/** A labelled form in a dialog body; `getValue()` gives the non-empty fields. */
export class FormBody
  extends Widget
  implements Dialog.IBodyWidget<Record<string, string>>
{
  constructor(fields: IField[], intro?: string) {
    super();
    this.addClass('jp-KFForm');
    if (intro) {
      const p = document.createElement('p');
      p.className = 'jp-KFForm-intro';
      p.textContent = intro;
      this.node.appendChild(p);
    }
    for (const field of fields) {
      const id = `jp-KFForm-${field.name}-${Private.counter++}`;
      const row = document.createElement('div');
      row.className = 'jp-KFForm-row';
      const label = document.createElement('label');
      label.htmlFor = id;
      label.textContent = field.label + (field.required ? ' *' : '');
      const input = document.createElement('input');
      input.id = id;
      input.name = field.name;
      input.className = 'jp-mod-styled jp-KFForm-input';
      input.type = field.type ?? 'text';
      if (field.min !== undefined) {
        input.min = String(field.min);
      }
      input.placeholder = field.placeholder ?? '';
      input.value = field.value ?? '';
      input.required = field.required ?? false;
      row.append(label, input);
      if (field.help) {
        const help = document.createElement('div');
        help.className = 'jp-KFForm-help';
        help.id = `${id}-help`;
        help.textContent = field.help;
        input.setAttribute('aria-describedby', help.id);
        row.appendChild(help);
      }
      this.node.appendChild(row);
      this._inputs.push(input);
    }
  }

  getValue(): Record<string, string> {
    const value: Record<string, string> = {};
    for (const input of this._inputs) {
      if (input.value.trim()) {
        value[input.name] = input.value.trim();
      }
    }
    return value;
  }

  /** The first input takes focus when the dialog opens. */
  get focusNode(): HTMLElement | undefined {
    return this._inputs[0];
  }

  private readonly _inputs: HTMLInputElement[] = [];
}

/** Ask for a form's values; null when cancelled. */
export async function askForm(
  title: string,
  fields: IField[],
  accept: string,
  intro?: string
): Promise<Record<string, string> | null> {
  const body = new FormBody(fields, intro);
  const result = await showDialog({
    title,
    body,
    focusNodeSelector: 'input',
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })]
  });
  return result.button.accept ? (result.value ?? {}) : null;
}

/** Ask before something that loses data; true to go ahead. */
export async function confirmLoss(
  title: string,
  body: string,
  action: string
): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: action })]
  });
  return result.button.accept;
}

/** Deleting a notebook server: keep its workspace, delete it too, or do nothing. */
export async function askDeleteNotebook(
  name: string,
  workspace: string
): Promise<'keep' | 'delete' | null> {
  const result = await showDialog({
    title: `Delete notebook server ${name}?`,
    body: workspace
      ? `Its workspace ${workspace} can be kept (a new server named ${name} picks it up again) or deleted with its files.`
      : 'The server is stopped and removed.',
    buttons: [
      Dialog.cancelButton(),
      ...(workspace
        ? [
            Dialog.okButton({ label: 'Delete, keep workspace' }),
            Dialog.warnButton({
              label: 'Delete with workspace',
              actions: ['delete-workspace']
            })
          ]
        : [Dialog.warnButton({ label: 'Delete' })])
    ]
  });
  if (!result.button.accept) {
    return null;
  }
  if (!workspace) {
    return 'keep';
  }
  return result.button.actions.includes('delete-workspace') ? 'delete' : 'keep';
}

namespace Private {
  export let counter = 0;
}
