/** The Kubeflow sidebar: the panel, its sections (one file each) and the rows they list. */
export { IPanelHost, JobsPanel, PANEL_ID } from './panel';
export { showTrials } from './trials';
