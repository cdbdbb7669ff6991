import { Time } from '@jupyterlab/coreutils';

import { el } from '../dom';
import {
  INotebookServer,
  IWhere,
  createNotebookServer,
  deleteNotebookServer,
  listNotebookServers,
  notebookAction,
  notebookUrl
} from '../request';
import { describeWhere, plural } from './format';
import { askDeleteNotebook, askForm } from './forms';
import { IAction, IRowView } from './row';
import { ISectionHost, Section } from './section';
import { NOTEBOOK_TONES } from './tones';

/** Notebook servers: open, stop, start, delete (keeping the workspace or not); + creates one. */

export class NotebooksSection extends Section<INotebookServer> {
  constructor(panel: ISectionHost) {
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
        },
        {
          name: 'data',
          label: 'Datasets',
          placeholder: 'mnist@2:data, clean:/mnt/clean',
          help: 'Dataset versions seen read-only, NAME[@VERSION]:PATH, comma-separated (a relative PATH is in the workspace)'
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
