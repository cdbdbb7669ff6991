import { Time } from '@jupyterlab/coreutils';

import { el } from '../dom';
import { IPipelineRun, cancelPipelineRun, listPipelineRuns } from '../request';
import { IAction, IRowView } from './row';
import { ISectionHost, Section } from './section';
import { JOB_TONES } from './tones';

/** Pipeline runs on this machine: their steps (each opens its job's log), cancel. */

export class PipelinesSection extends Section<IPipelineRun> {
  constructor(panel: ISectionHost) {
    super(panel, 'pipelines', 'Pipeline runs', 'run');
  }

  protected fetch(): Promise<IPipelineRun[]> {
    return listPipelineRuns(this.settings);
  }

  protected emptyState(): (string | Node)[] {
    if (!this.available) {
      return this.unavailable();
    }
    return [
      'No pipeline runs on this machine. Run a notebook as a pipeline with ',
      el('code', '', 'kf.pipeline.run("notebook.ipynb")'),
      '.'
    ];
  }

  protected view(run: IPipelineRun): IRowView {
    const actions: IAction[] = [];
    if (run.phase === 'Running') {
      actions.push({
        id: 'cancel',
        label: 'Cancel',
        aria: `Cancel pipeline run ${run.id}`,
        busy: 'Cancelling…',
        danger: true,
        run: () =>
          this.act(`cancel ${run.id}`, () =>
            cancelPipelineRun(run.id, this.settings)
          )
      });
    }
    const done = run.steps.filter(s => s.phase === 'Succeeded').length;
    return {
      key: run.id,
      phase: run.phase,
      tone: JOB_TONES[run.phase] ?? 'unknown',
      created: run.created,
      times: run.created ? `Started ${Time.format(run.created)}` : '',
      resources: `${done}/${run.steps.length} steps${run.seconds != null ? ` · ${run.seconds.toFixed(1)} s` : ''}`,
      where: { text: 'local', title: 'Runs on this machine' },
      message: [run.pipeline, run.notebook.split('/').pop() ?? '']
        .filter(Boolean)
        .join(' · '),
      actions,
      steps: run.steps.map(s => ({ name: s.name, phase: s.phase, job: s.job }))
    };
  }
}
