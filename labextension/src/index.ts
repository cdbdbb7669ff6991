import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { installCancelHook } from './cancelHook';
import { JobsPanel, PANEL_ID } from './panel';

const COMMAND_SHOW_JOBS = 'jupyter-kf:show-jobs';

/** Adds the Kubeflow panel (jobs list) to the left sidebar. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-kf:plugin',
  description: 'Kubeflow sidebar: training jobs started from notebooks.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new JobsPanel({
      settings: app.serviceManager.serverSettings
    });
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, PANEL_ID);
    app.commands.addCommand(COMMAND_SHOW_JOBS, {
      label: 'Show Kubeflow Jobs',
      execute: () => app.shell.activateById(PANEL_ID)
    });
  }
};

/** Cancel buttons under `%%kf_train` cells work while the kernel waits for the job. */
const cellCancel: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-kf:cell-cancel',
  description:
    'Cancels a job from the Cancel button under its %%kf_train cell through the REST API, even while the kernel is busy.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    installCancelHook(app.serviceManager.serverSettings);
  }
};

export default [plugin, cellCancel];
