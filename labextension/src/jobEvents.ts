import { Signal } from '@lumino/signaling';

import { IProgress } from './progress';
import { IJob, IWhere } from './request';

/** A job's phase as a log stream (`GET jobs/<name>/logs`) reported it. */
export interface IJobEvent {
  name: string;
  backend?: string;
  phase: string;
  /** The whole status, when the stream sent one (its `status` event; `end` carries the phase only). */
  job?: IJob;
}

/**
 * The one place where what a job's event stream says is published: log tabs
 * emit what their stream reports, the panel's rows and badges follow it at
 * once, so a row never says Running while an open log says Succeeded.
 */
class JobEventHub {
  get changed(): Signal<this, IJobEvent> {
    return this._changed;
  }

  emit(event: IJobEvent): void {
    this._last.set(event.name, event);
    this._changed.emit(event);
  }

  /** Listings of jobs the panel received: the notifier reads these rather than asking again. */
  get listed(): Signal<this, { where: IWhere; jobs: IJob[] }> {
    return this._listed;
  }

  emitListing(where: IWhere, jobs: IJob[]): void {
    this._listed.emit({ where, jobs });
  }

  /** Progress bars a stream reported (a bar a worker); [] when none is being redrawn. */
  get progressChanged(): Signal<this, { name: string; bars: IProgress[] }> {
    return this._progressChanged;
  }

  emitProgress(name: string, bars: IProgress[]): void {
    this._progress.set(name, bars);
    this._progressChanged.emit({ name, bars });
  }

  progress(name: string): IProgress[] {
    return this._progress.get(name) ?? [];
  }

  /** The last phase a stream reported for this job, if any stream did. */
  last(name: string): IJobEvent | undefined {
    return this._last.get(name);
  }

  private readonly _changed = new Signal<this, IJobEvent>(this);
  private readonly _last = new Map<string, IJobEvent>();
  private readonly _listed = new Signal<this, { where: IWhere; jobs: IJob[] }>(
    this
  );
  private readonly _progressChanged = new Signal<
    this,
    { name: string; bars: IProgress[] }
  >(this);
  private readonly _progress = new Map<string, IProgress[]>();
}

export const jobEvents = new JobEventHub();

/** Phases after which a job changes no more: a stream's word on them outranks an older listing. */
export const FINAL_PHASES: ReadonlySet<string> = new Set([
  'Succeeded',
  'Failed',
  'Cancelled'
]);
