import { Time } from '@jupyterlab/coreutils';

import { el } from '../dom';
import { IPipelineRun, cancelPipelineRun, listPipelineRuns } from '../request';
import { IAction, IRowView } from './row';
import { ISectionHost, Section } from './section';
import { JOB_TONES } from './tones';

/**
 * Pipeline runs on this machine (their steps open their jobs' logs) and, when an endpoint is configured,
 * runs submitted to Kubeflow Pipelines (a link to each in the KFP UI); cancel either.
 */

export class PipelinesSection extends Section<IPipelineRun> {
  constructor(panel: ISectionHost) {
    super(panel, 'pipelines', 'Pipeline runs', 'run');
  }

  protected async fetch(): Promise<IPipelineRun[]> {
    const reply = await listPipelineRuns(this.settings);
    if (reply.kfp_error) {
      this.showError(`Kubeflow Pipelines runs are not shown: ${reply.kfp_error}`);
    }
    return reply.pipelines;
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
    const url = run.url;
    if (url) {
      actions.push({
        id: 'open',
        label: 'Open in KFP',
        aria: `Open pipeline run ${run.pipeline || run.id} in Kubeflow Pipelines`,
        run: () => window.open(url, '_blank', 'noopener')
      });
    }
    if (run.phase === 'Running' || run.phase === 'Pending') {
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
      where:
        run.backend === 'kfp'
          ? { text: 'KFP', title: 'Runs on Kubeflow Pipelines' }
          : { text: 'local', title: 'Runs on this machine' },
      message: [run.pipeline, run.notebook.split('/').pop() ?? '', run.error ?? '']
        .filter(Boolean)
        .join(' · '),
      actions,
      steps: run.steps.map(s => ({ name: s.name, phase: s.phase, job: s.job }))
    };
  }
}
