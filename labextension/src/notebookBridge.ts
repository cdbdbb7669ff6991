import { JupyterFrontEnd } from '@jupyterlab/application';

/**
 * The few things the panel needs from the notebook the user works in, read
 * through the shell's current widget (a `NotebookPanel`) by duck typing, so the
 * extension needs no build-time dependency on `@jupyterlab/notebook`.
 */
export class NotebookBridge {
  constructor(private readonly _app: JupyterFrontEnd) {
    // The sidebar takes focus when used: remember the last notebook of the main area.
    this._app.shell.currentChanged?.connect(() => this._remember());
    this._remember();
  }

  /** The active notebook panel, or null when no notebook is open. */
  get notebook(): any | null {
    const current = this._app.shell.currentWidget as any;
    if (isNotebook(current)) {
      return current;
    }
    return this._last && !this._last.isDisposed ? this._last : null;
  }

  /** The active cell's source and the notebook's kernel, or a sentence saying what is missing. */
  activeCell():
    { source: string; kernel: any | null; path: string } | { missing: string } {
    const panel = this.notebook;
    if (!panel) {
      return {
        missing:
          'Open a notebook and select the cell to run as a job: no notebook is active.'
      };
    }
    const cell = panel.content.activeCell;
    if (!cell || cell.model.type !== 'code') {
      return {
        missing: 'Select a code cell: the active cell is not a code cell.'
      };
    }
    const source: string = cell.model.sharedModel.getSource();
    if (!source.trim()) {
      return { missing: 'The active cell is empty: nothing to run.' };
    }
    return {
      source,
      kernel: panel.sessionContext?.session?.kernel ?? null,
      path: panel.context?.path ?? ''
    };
  }

  /** Insert a code cell below the active cell (or at the end) and select it. */
  insertCellBelow(source: string): boolean {
    const panel = this.notebook;
    if (!panel) {
      return false;
    }
    const notebook = panel.content;
    const index =
      notebook.activeCellIndex >= 0
        ? notebook.activeCellIndex + 1
        : notebook.model.sharedModel.cells.length;
    notebook.model.sharedModel.insertCell(index, {
      cell_type: 'code',
      source
    });
    notebook.activeCellIndex = index;
    this._app.shell.activateById(panel.id);
    return true;
  }

  private _remember(): void {
    const current = this._app.shell.currentWidget as any;
    if (isNotebook(current)) {
      this._last = current;
    }
  }

  private _last: any | null = null;
}

function isNotebook(widget: any): boolean {
  return Boolean(
    widget &&
    widget.content &&
    widget.content.model &&
    widget.content.model.sharedModel &&
    typeof widget.content.model.sharedModel.insertCell === 'function' &&
    'activeCellIndex' in widget.content
  );
}

/** Python string literal for code sent to the kernel. */
export function pyString(text: string): string {
  return JSON.stringify(text);
}

/**
 * Run a cell as a job from the notebook's own kernel, as `%%kf_train --no-wait`
 * would: the kernel ships the cell's inputs (its variables), which the server
 * cannot see. Resolves with the kernel's error line, or null on success.
 */
export async function trainInKernel(
  kernel: any,
  source: string,
  args: string[]
): Promise<string | null> {
  const code =
    "get_ipython().run_line_magic('load_ext', 'jupyter_kf')\n" +
    `get_ipython().run_cell_magic('kf_train', ${pyString(args.join(' '))}, ${pyString(source)})\n`;
  let error: string | null = null;
  const future = kernel.requestExecute({
    code,
    silent: false,
    store_history: false,
    stop_on_error: true
  });
  future.onIOPub = (msg: any) => {
    const type = msg.header.msg_type;
    if (type === 'error') {
      error = `${msg.content.ename}: ${msg.content.evalue}`;
    }
  };
  const reply = await future.done;
  if (reply?.content?.status === 'error' && !error) {
    error = `${reply.content.ename}: ${reply.content.evalue}`;
  }
  return error;
}
