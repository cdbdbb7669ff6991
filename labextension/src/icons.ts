import { LabIcon } from '@jupyterlab/ui-components';

/** Sidebar tab icon: a hexagon (a cluster node) holding a K. */
export const kubeflowIcon = new LabIcon({
  name: 'jupyter-kf:kubeflow',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 1.6 2.9 6.8v10.4l9.1 5.2 9.1-5.2V6.8L12 1.6zm0 2.3 7.1 4.1v8l-7.1 4.1-7.1-4.1V8L12 3.9z"/>
    <path d="M8.6 7.5h2.1v3.6l3.1-3.6h2.6l-3.4 3.8 3.6 5.2h-2.6L11.6 13l-.9 1v2.5H8.6v-9z"/>
  </g>
</svg>`
});

const circle = '<circle cx="8" cy="8" r="6.25"/>';

function phaseIcon(phase: string, body: string): LabIcon {
  return new LabIcon({
    name: `jupyter-kf:phase-${phase.toLowerCase()}`,
    svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`
  });
}

/** One icon per tone of a status badge; colour comes from the badge (currentColor). */
export const toneIcons: Record<string, LabIcon> = {
  pending: phaseIcon('Pending', `${circle}<path d="M8 4.6V8l2.4 1.5"/>`),
  running: phaseIcon('Running', '<path d="M14.25 8A6.25 6.25 0 1 1 8 1.75"/>'),
  ok: phaseIcon('Succeeded', `${circle}<path d="M5.1 8.3l2 2 3.8-4.3"/>`),
  error: phaseIcon(
    'Failed',
    `${circle}<path d="M5.9 5.9l4.2 4.2M10.1 5.9l-4.2 4.2"/>`
  ),
  off: phaseIcon('Cancelled', `${circle}<path d="M3.6 12.4l8.8-8.8"/>`),
  unknown: phaseIcon(
    'Unknown',
    `${circle}<path d="M8 11.2v.1M6.5 6.3a1.6 1.6 0 1 1 2.2 1.5c-.5.2-.7.6-.7 1.1v.4"/>`
  )
};
