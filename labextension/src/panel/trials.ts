import { Dialog, showDialog } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { el } from '../dom';
import { IExperiment, IWhere, getExperiment } from '../request';
import { JOB_TONES } from './tones';

/** A number as a table cell shows it: four significant digits, no trailing noise. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return '—';
  }
  return Number.isInteger(value)
    ? String(value)
    : String(+value.toPrecision(4));
}

/** `best loss = 0.0123 · lr=0.01, layers=2`: what a search has found so far. */
export function describeBest(search: IExperiment): string {
  if (!search.best) {
    return '';
  }
  const params = Object.entries(search.best.params)
    .map(([name, value]) => `${name}=${Private.short(value)}`)
    .join(', ');
  return `best ${search.objective} = ${formatValue(search.best.objective)}${params ? ` · ${params}` : ''}`;
}

/** The trials of a search as a table: parameters, status, objective, seconds; the best row marked. */
export function trialsTable(search: IExperiment): HTMLTableElement {
  const trials = search.trials ?? [];
  const params = Array.from(
    new Set(trials.flatMap(t => Object.keys(t.params)))
  );
  const table = el('table', 'jp-KFTrials-table');
  table.setAttribute('aria-label', `Trials of ${search.name}`);
  const head = el('tr', '');
  for (const title of ['#', ...params, 'status', search.objective, 'seconds']) {
    const cell = el('th', '', title);
    cell.scope = 'col';
    head.appendChild(cell);
  }
  table.appendChild(el('thead', '')).appendChild(head);
  const body = table.appendChild(el('tbody', ''));
  for (const trial of trials) {
    const row = el('tr', 'jp-KFTrials-row');
    row.dataset.trial = trial.name;
    row.dataset.phase = trial.phase;
    if (search.best?.trial === trial.name) {
      row.classList.add('jp-mod-best');
      row.title = `The best trial so far (${search.goal} ${search.objective})`;
    }
    const status = el('td', 'jp-KFTrials-status', trial.phase);
    status.dataset.tone = JOB_TONES[trial.phase] ?? 'unknown';
    if (trial.message) {
      status.title = trial.message;
    }
    row.append(
      el('td', '', String(trial.number)),
      ...params.map(name => el('td', '', Private.short(trial.params[name]))),
      status,
      el('td', 'jp-KFTrials-objective', formatValue(trial.objective)),
      el('td', '', trial.duration === null ? '—' : trial.duration.toFixed(1))
    );
    body.appendChild(row);
  }
  return table;
}

/** Open a search's trials table in a dialog (fetched now, so it is current). */
export async function showTrials(
  name: string,
  settings: ServerConnection.ISettings,
  where: IWhere
): Promise<void> {
  const search = await getExperiment(name, settings, where);
  const body = new Widget();
  body.addClass('jp-KFTrials');
  const summary = el(
    'p',
    'jp-KFTrials-summary',
    [
      `${search.phase} · ${search.completed}/${search.max_trials} trials · ${search.running} running`,
      `${search.algorithm}, ${search.goal} ${search.objective}`,
      describeBest(search)
    ]
      .filter(Boolean)
      .join(' · ')
  );
  body.node.append(summary, trialsTable(search));
  await showDialog({
    title: `Trials of ${name}`,
    body,
    buttons: [Dialog.okButton({ label: 'Close' })]
  });
}

namespace Private {
  /** A parameter as text, numbers shortened (`0.000123456789` -> `0.0001235`). */
  export function short(value: string | undefined): string {
    if (value === undefined) {
      return '';
    }
    const number = Number(value);
    return value.trim() !== '' && Number.isFinite(number)
      ? formatValue(number)
      : value;
  }
}
