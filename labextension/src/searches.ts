/**
 * The searches (experiments) this page has seen listed, shared by the panel's
 * sections and the notifier: a search's trials are jobs too, and both need to
 * tell them apart from jobs the user ran.
 */
let known: readonly string[] = [];

/** The names of the searches in the latest listing. */
export function setKnownSearches(names: readonly string[]): void {
  known = names.slice();
}

/** The search a job is a trial of: `<search>-007` (a local search) or `<search>-x7k2m9qa` (Katib); else null. */
export function trialOf(job: string): string | null {
  for (const search of known) {
    if (
      job.startsWith(`${search}-`) &&
      /^(\d{3,}|[a-z0-9]{8})$/.test(job.slice(search.length + 1))
    ) {
      return search;
    }
  }
  return null;
}
