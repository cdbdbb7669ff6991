import { Time } from '@jupyterlab/coreutils';

import { el } from '../dom';
import { progressNode } from '../progress';
import {
  IExperiment,
  IWhere,
  cancelExperiment,
  deleteExperiment,
  listExperiments
} from '../request';
import { setKnownSearches } from '../searches';
import { describeWhere } from './format';
import { confirmLoss } from './forms';
import { IAction, IRowView } from './row';
import { ISectionHost, Section } from './section';
import { JOB_TONES } from './tones';
import { describeBest, showTrials } from './trials';

/** Searches (`%%kf_tune`): progress, the best value so far, the trials table, attach the best, stop, delete. */

export class ExperimentsSection extends Section<IExperiment> {
  constructor(panel: ISectionHost) {
    super(panel, 'experiments', 'Experiments', 'experiment');
  }

  protected async fetch(where: IWhere): Promise<IExperiment[]> {
    const searches = await listExperiments(this.settings, where);
    setKnownSearches(searches.map(search => search.name));
    return searches;
  }

  protected emptyState(): (string | Node)[] {
    if (!this.available) {
      return this.unavailable();
    }
    return [
      `No experiments${this.emptyWhere()}. Search hyperparameters with `,
      el('code', '', '%%kf_tune'),
      '.'
    ];
  }

  protected view(search: IExperiment): IRowView {
    const name = search.name;
    const where = this.where;
    const actions: IAction[] = [
      {
        id: 'trials',
        label: 'Trials',
        aria: `Show the trials of experiment ${name}`,
        run: () =>
          showTrials(name, this.settings, where).catch(error =>
            this.act(`show the trials of ${name}`, () => Promise.reject(error))
          )
      }
    ];
    if (search.best) {
      actions.push({
        id: 'attach',
        label: 'Attach',
        aria: `Attach the best results of experiment ${name} to the notebook`,
        run: () =>
          this.insertInNotebook(
            `%kf_experiment_attach ${name}`,
            `attach the best results of ${name}`
          )
      });
    }
    if (search.phase === 'Running') {
      actions.push({
        id: 'stop',
        label: 'Stop',
        aria: `Stop experiment ${name}`,
        busy: 'Stopping…',
        danger: true,
        run: () =>
          this.act(`stop ${name}`, () =>
            cancelExperiment(name, this.settings, where)
          )
      });
    }
    actions.push({
      id: 'delete',
      label: 'Delete',
      aria: `Delete experiment ${name}`,
      busy: 'Deleting…',
      danger: true,
      run: async () => {
        if (
          await confirmLoss(
            `Delete experiment ${name}?`,
            `${search.phase === 'Running' ? 'It is stopped, and its' : 'Its'} ${search.completed} trials are deleted with their logs and results; the best values found are lost unless a notebook attached them.`,
            'Delete'
          )
        ) {
          await this.act(`delete ${name}`, () =>
            deleteExperiment(name, this.settings, where)
          );
        }
      }
    });
    const total = Math.max(search.max_trials, 1);
    const trials = `${search.completed}/${search.max_trials} trials`;
    return {
      key: name,
      phase: search.phase,
      tone: JOB_TONES[search.phase] ?? 'unknown',
      created: search.created,
      times: search.created ? `Started ${Time.format(search.created)}` : '',
      resources: [
        `${search.goal} ${search.objective}`,
        search.algorithm,
        search.failed ? `${search.failed} failed` : ''
      ]
        .filter(Boolean)
        .join(' · '),
      where: describeWhere(search.backend, 'Experiment', search.namespace),
      // Why a search failed or was stopped; a running or successful one is told by its best value.
      message:
        [
          describeBest(search),
          ['Failed', 'Cancelled'].includes(search.phase) ? search.message : ''
        ]
          .filter(Boolean)
          .join(' · ') || (search.phase === 'Running' ? 'no result yet' : ''),
      actions,
      progress: [
        progressNode(
          {
            rank: 0,
            percent: (100 * Math.min(search.completed, total)) / total,
            n: search.completed,
            total: search.max_trials,
            label: '',
            eta: '',
            text: `${trials}${search.running ? ` · ${search.running} running` : ''}`
          },
          'trials'
        )
      ]
    };
  }
}
