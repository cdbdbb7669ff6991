import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';

import { installCancelHook } from './cancelHook';
import { LogViewer, createLogTab } from './logViewer';
import { NotebookBridge } from './notebookBridge';
// './panel/index', not './panel': a lib/panel.js left from before the split would win.
import { JobsPanel, PANEL_ID } from './panel/index';
import { IWhere } from './request';

const COMMAND_SHOW_JOBS = 'jupyter-kf:show-jobs';
const COMMAND_SHOW_LOGS = 'jupyter-kf:show-logs';

/** Adds the Kubeflow panel (jobs, notebook servers, models, pipeline runs) to the left sidebar. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-kf:plugin',
  description:
    'Kubeflow sidebar: jobs, notebook servers, models and pipeline runs, locally or on a cluster.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const settings = app.serviceManager.serverSettings;
    const logTabs = new Map<string, MainAreaWidget<LogViewer>>();
    const openLogs = (job: string, where: IWhere = {}) => {
      let tab = logTabs.get(job);
      if (!tab || tab.isDisposed) {
        tab = createLogTab(job, settings, where);
        logTabs.set(job, tab);
        tab.disposed.connect(() => logTabs.delete(job));
        app.shell.add(tab, 'main', { mode: 'split-right' });
      }
      app.shell.activateById(tab.id);
    };
    const panel = new JobsPanel({
      settings,
      host: { openLogs, bridge: new NotebookBridge(app) }
    });
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, PANEL_ID);
    app.commands.addCommand(COMMAND_SHOW_JOBS, {
      label: 'Show Kubeflow Jobs',
      execute: () => app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(COMMAND_SHOW_LOGS, {
      label: args => `Show the log of job ${args.name ?? ''}`,
      execute: args =>
        openLogs(String(args.name), { backend: args.backend as string })
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
