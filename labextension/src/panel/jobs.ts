import { el } from '../dom';
import { FINAL_PHASES, IJobEvent, jobEvents } from '../jobEvents';
import { progressNode } from '../progress';
import { trainInKernel } from '../notebookBridge';
import { trialOf } from '../searches';
import {
  ACTIVE_PHASES,
  IJob,
  IWhere,
  cancelJob,
  createJob,
  deleteJob,
  listJobs
} from '../request';
import { describeWhere, plural, timesTitle } from './format';
import { askForm, confirmLoss } from './forms';
import { IAction, IRowView } from './row';
import { ISectionHost, Section } from './section';
import { JOB_TONES } from './tones';

/** Training jobs: logs, cancel, attach results to the notebook, delete; + runs the active cell as a job. */

export class JobsSection extends Section<IJob> {
  constructor(panel: ISectionHost) {
    super(panel, 'jobs', 'Jobs', 'job', {
      label: 'New job from the active cell',
      aria: 'New training job from the active cell',
      run: () => this._create()
    });
    jobEvents.changed.connect((_, event) => this._onEvent(event));
    jobEvents.progressChanged.connect((_, { name }) => {
      if (this.items.some(job => job.name === name)) {
        this.render();
      }
    });
  }

  /** The listing, where a log stream has already said a job ended: that word wins (it cannot go back). */
  protected async fetch(where: IWhere): Promise<IJob[]> {
    const jobs = (await listJobs(this.settings, where)).map(job =>
      Private.newer(job, jobEvents.last(job.name))
    );
    jobEvents.emitListing(where, jobs);
    return jobs;
  }

  /** A log stream reported a phase: the row and its badge change now, with the log tab. */
  private _onEvent(event: IJobEvent): void {
    const items = this.items;
    const index = items.findIndex(
      job =>
        job.name === event.name &&
        (!event.backend || job.backend === event.backend)
    );
    if (index < 0 || items[index].phase === event.phase) {
      return;
    }
    const patched = items.slice();
    patched[index] = event.job
      ? { ...items[index], ...event.job }
      : { ...items[index], phase: event.phase as IJob['phase'] };
    this.patchItems(patched);
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
      run: () =>
        this.insertInNotebook(
          `%kf_attach ${name}`,
          `attach the results of ${name}`
        )
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
    const search = trialOf(name);
    if (search) {
      message = `trial of experiment ${search}${message ? ` · ${message}` : ''}`;
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
      actions,
      progress: active
        ? jobEvents
            .progress(name)
            .map(bar =>
              progressNode(
                bar,
                (job.resources?.workers ?? 1) > 1
                  ? `worker ${bar.rank}`
                  : 'progress'
              )
            )
        : []
    };
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

/** Workers, GPUs, CPU and memory of a job, as the row shows them. */
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

namespace Private {
  export function newer(job: IJob, event: IJobEvent | undefined): IJob {
    if (
      !event ||
      (event.backend && event.backend !== job.backend) ||
      !FINAL_PHASES.has(event.phase) ||
      FINAL_PHASES.has(job.phase)
    ) {
      return job;
    }
    return {
      ...job,
      ...(event.job ?? {}),
      phase: event.phase as IJob['phase']
    };
  }
}
