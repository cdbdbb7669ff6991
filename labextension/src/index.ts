import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { installCancelHook } from './cancelHook';
import { LogViewer, createLogTab } from './logViewer';
import { NotebookBridge } from './notebookBridge';
import { OutcomeNotifier } from './notifications';
// './panel/index', not './panel': a lib/panel.js left from before the split would win.
import { JobsPanel, PANEL_ID, showTrials } from './panel/index';
import { IPreferences, readPreferences } from './preferences';
import { IWhere, getInfo } from './request';

const PLUGIN_ID = 'jupyter-kf:plugin';
const COMMAND_SHOW_JOBS = 'jupyter-kf:show-jobs';
const COMMAND_SHOW_LOGS = 'jupyter-kf:show-logs';

/**
 * Adds the Kubeflow panel (jobs, notebook servers, models, pipeline runs,
 * experiments, data) to the left sidebar. Its preferences (schema:
 * labextension/schema/plugin.json) apply as soon as they change; without a
 * setting registry it uses the defaults.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Kubeflow sidebar: jobs, notebook servers, models, pipeline runs, experiments and data, locally or on a cluster.',
  autoStart: true,
  optional: [ILayoutRestorer, ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    registry: ISettingRegistry | null
  ) => {
    // Open log tabs are kept in the layout: after a reload they come back, following again.
    const logTracker = new WidgetTracker<MainAreaWidget<LogViewer>>({
      namespace: 'jupyter-kf-logs'
    });
    // Registered before any await: the restorer waits for what is registered while plugins start.
    void restorer?.restore(logTracker, {
      command: COMMAND_SHOW_LOGS,
      args: tab => ({
        name: tab.content.job,
        backend: tab.content.where.backend ?? '',
        namespace: tab.content.where.namespace ?? ''
      }),
      name: tab => tab.content.job
    });
    const preferences = await loadPreferences(registry);
    const settings = app.serviceManager.serverSettings;
    const logTabs = new Map<string, MainAreaWidget<LogViewer>>();
    const openLogs = (job: string, where: IWhere = {}) => {
      let tab = logTabs.get(job);
      if (!tab || tab.isDisposed) {
        tab = createLogTab(
          job,
          settings,
          where,
          readPreferences(preferences).logLines
        );
        logTabs.set(job, tab);
        tab.disposed.connect(() => logTabs.delete(job));
        void logTracker.add(tab);
        app.shell.add(tab, 'main', { mode: 'split-right' });
      }
      app.shell.activateById(tab.id);
    };
    const panel = new JobsPanel({
      settings,
      host: { openLogs, bridge: new NotebookBridge(app) },
      preferences: readPreferences(preferences)
    });
    preferences?.changed.connect(() => {
      const values = readPreferences(preferences);
      panel.configure(values);
      for (const tab of logTabs.values()) {
        tab.content.maxLines = values.logLines;
      }
    });
    let early: Promise<IWhere> | null = null; // asked once, until the panel knows
    const notifierWhere = () => {
      if (panel.info) {
        return panel.where;
      }
      early ??= whereBeforePanel(settings, readPreferences(preferences));
      early.catch(() => (early = null));
      return early;
    };
    const notifier = new OutcomeNotifier({
      settings,
      where: notifierWhere,
      panelLists: () => panel.isVisible,
      enabled: () => readPreferences(preferences).notifications,
      isWatching: job => {
        const tab = logTabs.get(job);
        return !!tab && app.shell.currentWidget === tab;
      },
      openLogs,
      showTrials: (search, where) =>
        void showTrials(search, settings, where).catch(error =>
          Notification.error(
            `Could not show the trials of ${search}: ${error.message ?? error}`
          )
        )
    });
    preferences?.changed.connect(() => void notifier.refresh());
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, PANEL_ID);
    app.commands.addCommand(COMMAND_SHOW_JOBS, {
      label: 'Show Kubeflow Jobs',
      execute: () => app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(COMMAND_SHOW_LOGS, {
      label: args => `Show the log of job ${args.name ?? ''}`,
      execute: args =>
        openLogs(String(args.name), {
          backend: (args.backend as string) || undefined,
          namespace: (args.namespace as string) || null
        })
    });
  }
};

/** This plugin's settings; null (the defaults apply) without a registry or when they cannot be loaded. */
async function loadPreferences(
  registry: ISettingRegistry | null
): Promise<ISettingRegistry.ISettings | null> {
  if (!registry) {
    return null;
  }
  try {
    return await registry.load(PLUGIN_ID);
  } catch (error) {
    console.warn(`jupyter-kf: settings not loaded, defaults apply: ${error}`);
    return null;
  }
}

/** Where the panel will look once opened: the preferred backend and namespace if the server offers them. */
async function whereBeforePanel(
  settings: ServerConnection.ISettings,
  preferences: IPreferences
): Promise<IWhere> {
  const info = await getInfo(settings);
  const { defaultBackend, defaultNamespace } = preferences;
  return {
    backend: info.backends.includes(defaultBackend)
      ? defaultBackend
      : info.backend,
    namespace: info.namespaces.includes(defaultNamespace)
      ? defaultNamespace
      : info.namespace
  };
}

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
