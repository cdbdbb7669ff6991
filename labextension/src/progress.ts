/**
 * Progress bars recognised in a (rendered) output line, as jupyter_kf/terminal.py recognises them:
 * tqdm's `desc: 45%|####5     | 450/1000 [00:12<00:14, 38.1it/s]` and Keras'
 * `3/10 [=====>........] - ETA: 2s`.
 */
export interface IProgress {
  rank: number;
  percent: number;
  n: number;
  total: number;
  label: string;
  eta: string;
  /** `45% · 450/1000 · ETA 00:14` */
  text: string;
}

const UNIT: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9 };
const TQDM =
  /^(.*?):?\s*(\d{1,3})%\|[^|]*\|\s*([\d.]+)([kKMG]?)\/([\d.]+)([kKMG]?)\s*\[([\d:]+)<([\d:?]+)(?:,\s*([^\]]*))?\]/;
const KERAS =
  /^(.*?)\s*(\d+)\/(\d+)\s*(?:\[[=>.#\- ]*\]|[━─]+)(?:\s*-?\s*(?:ETA:\s*([\d:]+s?)|(\d+(?:\.\d+)?m?s)))?/;

function num(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(3);
}

export function parseProgress(rank: number, line: string): IProgress | null {
  let m = TQDM.exec(line);
  if (m) {
    const n = parseFloat(m[3]) * UNIT[m[4]];
    const total = parseFloat(m[5]) * UNIT[m[6]];
    const percent = parseFloat(m[2]);
    const eta = m[8] !== '?' && percent < 100 ? m[8] : '';
    const parts = [`${percent}%`, `${num(n)}/${num(total)}`];
    parts.push(eta ? `ETA ${eta}` : `${m[7]} elapsed`);
    return {
      rank,
      percent,
      n,
      total,
      label: m[1].trim(),
      eta,
      text: parts.join(' · ')
    };
  }
  m = KERAS.exec(line);
  if (m && parseInt(m[3], 10) > 0) {
    const n = parseInt(m[2], 10);
    const total = parseInt(m[3], 10);
    const percent = Math.min(100, (100 * n) / total);
    const eta = m[4] ?? '';
    const parts = [`${percent.toFixed(0)}%`, `${n}/${total}`];
    if (eta) {
      parts.push(`ETA ${eta}`);
    }
    return {
      rank,
      percent,
      n,
      total,
      label: m[1].trim(),
      eta,
      text: parts.join(' · ')
    };
  }
  return null;
}

/** A bar: `worker 0 ███░░ 45% · 450/1000 · ETA 00:14`, for the panel's rows and log tabs. */
export function progressNode(bar: IProgress, label: string): HTMLElement {
  const node = document.createElement('div');
  node.className = 'jp-KFProgress';
  node.dataset.percent = bar.percent.toFixed(0);
  node.dataset.rank = String(bar.rank);
  const name = document.createElement('span');
  name.className = 'jp-KFProgress-label';
  name.textContent = label;
  const track = document.createElement('span');
  track.className = 'jp-KFProgress-track';
  const fill = document.createElement('span');
  fill.className = 'jp-KFProgress-fill';
  fill.style.width = `${Math.max(0, Math.min(100, bar.percent))}%`;
  track.appendChild(fill);
  const text = document.createElement('span');
  text.className = 'jp-KFProgress-text';
  text.textContent = bar.label ? `${bar.label}: ${bar.text}` : bar.text;
  node.append(name, track, text);
  node.title = `${label}: ${text.textContent}`;
  return node;
}
