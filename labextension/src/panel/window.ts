/**
 * Which rows of a long list are in the DOM: those in view plus a margin either side; the list's padding
 * stands in for the rest, so the scroll bar is the whole list's. A list of 10,000 jobs then costs what
 * one of a hundred does to render, scroll and poll.
 */

/** Lists up to this long are rendered whole (no estimate of row heights, nothing to lag on scroll). */
export const WINDOW_FROM = 60;
/** Rows rendered beyond each edge of the view: keyboard moves and fast scrolls find them there. */
const MARGIN = 25;
/** A row's height before any has been measured: a job row with its buttons. */
export const FIRST_ESTIMATE = 80;

/** The slice of rows to render: `start` included, `end` excluded. */
export interface IRange {
  start: number;
  end: number;
}

/** Rows `[start, end)` of a `count`-long list placed where `list` is, seen through `scroller`. */
export function visibleRange(
  count: number,
  rowHeight: number,
  list: Element,
  scroller: Element | null
): IRange {
  if (count <= WINDOW_FROM) {
    return { start: 0, end: count };
  }
  const top = list.getBoundingClientRect().top;
  const view = scroller?.getBoundingClientRect();
  const viewTop = view?.top ?? 0;
  const viewHeight = view?.height || window.innerHeight;
  // A list scrolled out of view keeps its nearest rows: its last ones when the view is below it.
  const first = clamp(Math.floor((viewTop - top) / rowHeight), 0, count - 1);
  const last = clamp(
    Math.ceil((viewTop + viewHeight - top) / rowHeight),
    first + 1,
    count
  );
  const start = Math.max(first - MARGIN, 0);
  return {
    start,
    end: Math.min(Math.max(last + MARGIN, start + 2 * MARGIN), count)
  };
}

/** The mean height of the rows rendered, or the last estimate when none shows (hidden panel). */
export function measureRowHeight(
  list: Element,
  previous = FIRST_ESTIMATE
): number {
  const rows = list.children;
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    total += (rows[i] as HTMLElement).offsetHeight;
  }
  return total > 0 ? total / rows.length : previous;
}

/** The nearest ancestor that scrolls: the panel, in JupyterLab's sidebar. */
export function scrollerOf(node: Element): Element | null {
  for (let at = node.parentElement; at; at = at.parentElement) {
    const overflow = getComputedStyle(at).overflowY;
    if (overflow === 'auto' || overflow === 'scroll') {
      return at;
    }
  }
  return null;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}
