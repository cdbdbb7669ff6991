import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';

import {
  IExperiment,
  IJob,
  IModel,
  IPipelineRun,
  IWhere,
  listExperiments,
  listJobs,
  listModels,
  listPipelineRuns,
  streamLogs
} from './request';
import { jobEvents } from './jobEvents';
import { setKnownSearches, trialOf } from './searches';

/** Phases after which a job or run changes no more. */
const ENDED = new Set(['Succeeded', 'Failed', 'Cancelled', 'Error']);

/** One thing that can end: its key, its phase now, and what to say when it has ended. */
interface IOutcome {
  key: string;
  phase: string;
  ended: boolean;
  failed: boolean;
  text: string;
  /** The job whose log the notification's action opens, if any. */
  logOf?: string;
  /** The search whose trials table the notification's action opens, if any. */
  trialsOf?: string;
  /** What the log action says (default: Show log). */
  logLabel?: string;
}

/**
 * Raises a JupyterLab notification when a job, pipeline run, model
 * deployment or search (experiment) ends: its outcome, a failure's one-line
 * reason, and an action that opens its log (a search's: its trials table). Things that had ended before the first look are not
 * announced; one whose log tab the user is looking at is not either.
 */
export class OutcomeNotifier {
  constructor(options: OutcomeNotifier.IOptions) {
    this._options = options;
    // While the panel lists jobs, its listings are used: no second request for the same thing.
    jobEvents.listed.connect((_, { where, jobs }) =>
      this._considerJobs(jobs, where, this._options.enabled())
    );
    this._poll = new Poll<void, unknown>({
      name: 'jupyter-kf:notifications',
      factory: () => this._check(),
      frequency: {
        interval: options.interval ?? 2000,
        backoff: true,
        max: 30000
      },
      // A hidden page is not polled; what ended meanwhile is announced on return.
      standby: 'when-hidden'
    });
  }

  /** Look now (tests and a re-enabled setting need not wait a tick). */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  dispose(): void {
    this._poll.dispose();
  }

  /**
   * Turned off, it still looks (cheaply, from the server's cache) so that
   * turning it back on does not announce what ended meanwhile.
   */
  private async _check(): Promise<void> {
    const where = await this._options.where();
    const { settings } = this._options;
    const panelLists = this._options.panelLists();
    const [jobs, runs, models, searches] = await Promise.allSettled([
      panelLists ? Promise.resolve(null) : listJobs(settings, where),
      listPipelineRuns(settings),
      listModels(settings, where),
      listExperiments(settings, where)
    ]);
    const enabled = this._options.enabled();
    if (searches.status === 'fulfilled') {
      setKnownSearches(searches.value.map(search => search.name));
    }
    if (jobs.status === 'fulfilled' && jobs.value) {
      this._considerJobs(jobs.value, where, enabled);
    }
    const outcomes: IOutcome[] = [];
    if (runs.status === 'fulfilled') {
      outcomes.push(...runs.value.pipelines.map(Private.run));
    }
    if (models.status === 'fulfilled') {
      outcomes.push(...models.value.map(Private.model));
    }
    if (searches.status === 'fulfilled') {
      outcomes.push(...searches.value.map(Private.search));
    }
    for (const outcome of outcomes) {
      this._consider(outcome, where, enabled);
    }
    this._baseline = true;
    // How many looks were taken: what tests (and curious users) wait on.
    document.body.dataset.kfNotifierLooks = String(++this._looks);
  }

  private _considerJobs(jobs: IJob[], where: IWhere, enabled: boolean): void {
    for (const job of jobs.filter(j => !j.pipeline)) {
      // A search's trials are announced once, by the search: not one toast a trial.
      this._consider(Private.job(job), where, enabled && !trialOf(job.name));
    }
  }

  private _consider(outcome: IOutcome, where: IWhere, enabled: boolean): void {
    const before = this._phases.get(outcome.key);
    this._phases.set(outcome.key, outcome.phase);
    const isNew = before === undefined;
    if (!enabled || !outcome.ended || before === outcome.phase) {
      return;
    }
    if (isNew && !this._baseline) {
      return; // it had ended before this page looked
    }
    if (before !== undefined && ENDED.has(before)) {
      return;
    }
    if (
      outcome.logOf &&
      !outcome.trialsOf &&
      this._options.isWatching(outcome.logOf)
    ) {
      return;
    }
    const { logOf, trialsOf } = outcome;
    const showTrials = this._options.showTrials;
    const actions: Notification.IAction[] = [];
    if (trialsOf && showTrials) {
      actions.push({
        label: 'Show trials',
        caption: `Open the trials table of ${trialsOf}`,
        callback: () => showTrials(trialsOf, where)
      });
    }
    if (logOf) {
      actions.push({
        label: outcome.logLabel ?? 'Show log',
        caption: `Open the log of ${logOf}`,
        callback: () => this._options.openLogs(logOf, where)
      });
    }
    if (outcome.failed) {
      void this._failure(outcome, where).then(text =>
        Notification.error(text, { autoClose: false, actions })
      );
    } else {
      Notification.success(outcome.text, { autoClose: 10000, actions });
    }
  }

  /** A failed job's text with its one-line reason: the exception its log ends with, else its status message. */
  private async _failure(outcome: IOutcome, where: IWhere): Promise<string> {
    if (!outcome.logOf || !outcome.key.startsWith('job/')) {
      return outcome.text;
    }
    const tail: string[] = [];
    const abort = new AbortController();
    try {
      await streamLogs(
        outcome.logOf,
        {
          lines: lines => {
            tail.push(...lines);
            tail.splice(0, Math.max(0, tail.length - 20));
          }
        },
        abort.signal,
        this._options.settings,
        where
      );
    } catch {
      return outcome.text;
    }
    const why = Private.exceptionLine(tail);
    return why ? `Job ${outcome.logOf} failed: ${why}` : outcome.text;
  }

  private readonly _options: OutcomeNotifier.IOptions;
  private readonly _poll: Poll<void, unknown>;
  private readonly _phases = new Map<string, string>();
  private _baseline = false;
  private _looks = 0;
}

export namespace OutcomeNotifier {
  export interface IOptions {
    settings: ServerConnection.ISettings;
    /** The backend and namespace whose jobs and models are watched (the panel's choice). */
    where: () => IWhere | Promise<IWhere>;
    /** Whether the panel is listing jobs now (visible): then its listings are used. */
    panelLists: () => boolean;
    /** The setting that turns notifications off. */
    enabled: () => boolean;
    /** Whether the user is looking at this job's log right now. */
    isWatching: (job: string) => boolean;
    openLogs: (job: string, where: IWhere) => void;
    /** Open a search's trials table (the action of a search's notification). */
    showTrials?: (search: string, where: IWhere) => void;
    /** Milliseconds between two looks (default 2000). */
    interval?: number;
  }
}

namespace Private {
  /** The first line of a message, short enough for a notification. */
  export function reason(message: string | undefined | null): string {
    const line = (message ?? '').trim().split('\n')[0];
    return line.length > 200 ? `${line.slice(0, 199)}…` : line;
  }

  /** The last line of a log that names an exception (`ValueError: bad rate`), without a `[rank] ` prefix. */
  export function exceptionLine(lines: string[]): string {
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i].replace(/^\[\d+\] /, '').trim();
      if (/^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b/.test(line)) {
        return reason(line);
      }
    }
    return '';
  }

  /** `0.8 s`, `42 s`, `3 min 5 s`: tenths below ten seconds. */
  export function duration(seconds: number): string {
    if (seconds < 9.95) {
      return `${seconds.toFixed(1)} s`;
    }
    if (seconds < 59.5) {
      return `${Math.round(seconds)} s`;
    }
    const whole = Math.round(seconds);
    return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  }

  export function job(item: IJob): IOutcome {
    const failed = item.phase === 'Failed';
    let took = '';
    if (item.started && item.finished) {
      const seconds =
        (Date.parse(item.finished) - Date.parse(item.started)) / 1000;
      took = Number.isFinite(seconds)
        ? ` in ${duration(Math.max(0, seconds))}`
        : '';
    }
    const why = reason(item.message);
    const text = failed
      ? `Job ${item.name} failed${why ? `: ${why}` : ''}`
      : `Job ${item.name} ${item.phase.toLowerCase()}${took}`;
    return {
      key: `job/${item.backend}/${item.namespace ?? ''}/${item.name}`,
      phase: item.phase,
      ended: ENDED.has(item.phase),
      failed,
      text,
      logOf: item.name
    };
  }

  export function run(item: IPipelineRun): IOutcome {
    const failed = item.phase === 'Failed' || item.phase === 'Error';
    const broken = item.steps.find(s => s.phase === 'Failed');
    const took = item.seconds != null ? ` in ${duration(item.seconds)}` : '';
    const text = failed
      ? `Pipeline run ${item.pipeline} failed${broken ? ` at step ${broken.name}` : ''}`
      : `Pipeline run ${item.pipeline} ${item.phase.toLowerCase()}${took}`;
    return {
      key: `run/${item.id}`,
      phase: item.phase,
      ended: ENDED.has(item.phase),
      failed,
      text,
      logOf: broken?.job ?? item.steps[item.steps.length - 1]?.job
    };
  }

  /** `Search lr-search succeeded: 40/40 trials, best loss = 0.0123 (lr=0.01)`; a failure says why. */
  export function search(item: IExperiment): IOutcome {
    const failed = item.phase === 'Failed';
    const best = item.best
      ? `best ${item.objective} = ${+item.best.objective.toPrecision(4)}${Private.params(item.best.params)}`
      : 'no trial gave a result';
    const why = reason(item.message);
    const trials = `${item.completed}/${item.max_trials} trials`;
    const text = failed
      ? `Search ${item.name} failed${why ? `: ${why}` : ''} (${trials})`
      : `Search ${item.name} ${item.phase.toLowerCase()}: ${trials}, ${best}`;
    return {
      key: `search/${item.backend}/${item.namespace ?? ''}/${item.name}`,
      phase: item.phase,
      ended: ENDED.has(item.phase),
      failed,
      text,
      logOf: item.best?.trial ?? item.first_failed ?? undefined,
      logLabel: item.best ? 'Best trial log' : 'Failed trial log',
      trialsOf: item.name
    };
  }

  export function params(values: Record<string, string>): string {
    const text = Object.entries(values)
      .map(([name, value]) => {
        const number = Number(value);
        return `${name}=${value.trim() !== '' && Number.isFinite(number) ? +number.toPrecision(4) : value}`;
      })
      .join(', ');
    return text ? ` (${text})` : '';
  }

  export function model(item: IModel): IOutcome {
    const phase =
      item.phase ?? item.status ?? (item.ready ? 'Ready' : 'Pending');
    const failed = phase === 'Failed' || phase === 'Error';
    const why = reason(item.message ?? item.reasons?.[0]);
    return {
      key: `model/${item.backend ?? ''}/${item.namespace ?? ''}/${item.name}`,
      phase,
      ended: failed || phase === 'Ready',
      failed,
      text: failed
        ? `Deployment ${item.name} failed${why ? `: ${why}` : ''}`
        : `Deployment ${item.name} is ready${item.url ? ` at ${item.url}` : ''}`
    };
  }
}
