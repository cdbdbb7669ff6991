import { ISettingRegistry } from '@jupyterlab/settingregistry';

/**
 * The panel's preferences, edited in Settings → Settings Editor → Kubeflow;
 * their schema is `labextension/schema/plugin.json`.
 */
export interface IPreferences {
  /** Seconds between two polls while the panel is visible. */
  refreshInterval: number;
  /** The backend selected when the panel opens; empty: the server's choice. */
  defaultBackend: string;
  /** The namespace selected when the panel opens; empty: the server's default. */
  defaultNamespace: string;
  /** Lines a log tab keeps; older lines go first. */
  logLines: number;
  /** Announce jobs, pipeline runs and deployments that end, in JupyterLab's notifications. */
  notifications: boolean;
}

/** What the panel does with no setting registry, or before the user changed anything. */
export const DEFAULT_PREFERENCES: Readonly<IPreferences> = {
  refreshInterval: 2,
  defaultBackend: '',
  defaultNamespace: '',
  logLines: 20000,
  notifications: true
};

/** The preferences in `settings` (the registry validated them), the defaults where absent. */
export function readPreferences(
  settings: ISettingRegistry.ISettings | null
): IPreferences {
  const composite = settings?.composite ?? {};
  const pick = <K extends keyof IPreferences>(key: K): IPreferences[K] => {
    const value = composite[key];
    return typeof value === typeof DEFAULT_PREFERENCES[key]
      ? (value as IPreferences[K])
      : DEFAULT_PREFERENCES[key];
  };
  return {
    refreshInterval: pick('refreshInterval'),
    defaultBackend: pick('defaultBackend'),
    defaultNamespace: pick('defaultNamespace'),
    logLines: pick('logLines'),
    notifications: pick('notifications')
  };
}
