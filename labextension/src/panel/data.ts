import { Time } from '@jupyterlab/coreutils';

import { el } from '../dom';
import {
  IDataVersion,
  IDataset,
  IVolume,
  IWhere,
  KfResponseError,
  deleteDataset,
  deleteVolume,
  listDatasets,
  listVolumes
} from '../request';
import { describeWhere, plural } from './format';
import { confirmLoss } from './forms';
import { IRowDetail, IRowView } from './row';
import { ISectionHost, Section } from './section';
import { VOLUME_TONES } from './tones';

/** A row of the Data section: a dataset (from the store) or a volume (a claim on the cluster). */
export type DataItem =
  | { kind: 'dataset'; dataset: IDataset }
  | {
      kind: 'volume';
      volume: IVolume;
      namespace: string | null;
      /** Why the pods that mount it are unknown, if they are. */
      note: string;
    };

/**
 * Data: datasets with their versions and lineage (delete a version or the
 * dataset, asked again with force while a job reads it), and on a cluster the
 * namespace's volumes with size and the pods that mount them.
 */
export class DataSection extends Section<DataItem> {
  constructor(panel: ISectionHost) {
    super(panel, 'data', 'Data', 'item');
  }

  protected async fetch(where: IWhere): Promise<DataItem[]> {
    const cluster = where.backend === 'kubernetes';
    const [datasets, volumes] = await Promise.all([
      listDatasets(this.settings),
      cluster
        ? listVolumes(this.settings, where)
        : Promise.resolve({ volumes: [], note: '' })
    ]);
    return [
      ...datasets.map(dataset => ({ kind: 'dataset' as const, dataset })),
      ...volumes.volumes.map(volume => ({
        kind: 'volume' as const,
        volume,
        namespace: where.namespace ?? null,
        note: volumes.note
      }))
    ];
  }

  protected emptyState(): (string | Node)[] {
    if (!this.available) {
      return this.unavailable();
    }
    return [
      `No datasets${this.onLocal ? '' : ' and no volumes' + this.emptyWhere()}. Version one with `,
      el('code', '', '%kf_data put NAME PATH'),
      this.onLocal ? '.' : ' or make a volume with ',
      ...(this.onLocal ? [] : [el('code', '', '%kf_volume create NAME')])
    ];
  }

  protected view(item: DataItem): IRowView {
    return item.kind === 'dataset'
      ? this._datasetView(item.dataset)
      : this._volumeView(item.volume, item.namespace, item.note);
  }

  private _datasetView(dataset: IDataset): IRowView {
    const name = dataset.name;
    const latest = dataset.versions[dataset.versions.length - 1];
    const versions: IRowDetail[] = dataset.versions.map(version => ({
      key: version.ref,
      kind: 'version',
      text: Private.describeVersion(version),
      title: `${version.ref} · sha256:${version.digest}${version.created ? ` · created ${Time.format(version.created)}` : ''}`,
      actions: [
        {
          id: 'delete',
          label: 'Delete',
          aria: `Delete version ${version.ref}`,
          busy: 'Deleting…',
          danger: true,
          run: () => this._deleteDataset(name, version.version)
        }
      ]
    }));
    const lineage: IRowDetail[] = dataset.lineage.map((entry, index) => ({
      key: `lineage-${index}`,
      kind: 'lineage',
      text: `v${entry.version} ${entry.direction === 'read' ? '→' : '←'} ${entry.text}`
    }));
    return {
      key: `dataset/${name}`,
      label: name,
      kind: 'dataset',
      phase: latest ? `v${latest.version}` : 'empty',
      tone: latest ? 'ok' : 'unknown',
      created: latest?.created ?? null,
      times: latest?.created
        ? `Latest version created ${Time.format(latest.created)}`
        : '',
      resources: [
        plural(dataset.versions.length, 'version'),
        latest ? plural(latest.files, 'file') : '',
        latest?.size_text ?? ''
      ]
        .filter(Boolean)
        .join(' · '),
      where: {
        text: `${dataset.where ?? 'local'} store`,
        title: `Stored by content in the ${dataset.where ?? 'local'} store`
      },
      message: dataset.lineage.length
        ? ''
        : 'no job has read or written it yet',
      details: [...versions, ...lineage],
      actions: [
        {
          id: 'delete',
          label: 'Delete all',
          aria: `Delete dataset ${name}`,
          busy: 'Deleting…',
          danger: true,
          run: () => this._deleteDataset(name, null)
        }
      ]
    };
  }

  private _volumeView(
    volume: IVolume,
    namespace: string | null,
    note: string
  ): IRowView {
    const name = volume.name;
    const ours = volume['made by'] === 'jupyter_kf';
    const mountedBy = volume.mounted_by ?? [];
    const mounts: IRowDetail[] =
      volume.mounted_by === null
        ? [{ key: 'unknown', kind: 'mount', text: note || 'mounts unknown' }]
        : mountedBy.length
          ? mountedBy.map(who => ({
              key: who,
              kind: 'mount',
              text: `mounted by ${who}`
            }))
          : [{ key: 'none', kind: 'mount', text: 'not mounted by any pod' }];
    return {
      key: `volume/${name}`,
      label: name,
      kind: 'volume',
      phase: volume.phase,
      tone: VOLUME_TONES[volume.phase] ?? 'unknown',
      created: volume.created || null,
      times: volume.created ? `Created ${Time.format(volume.created)}` : '',
      resources: [volume.size, volume.access, volume.class]
        .filter(part => part && part !== '-')
        .join(' · '),
      where: describeWhere('kubernetes', 'PersistentVolumeClaim', namespace),
      message: ours ? '' : 'not made by jupyter_kf',
      details: mounts,
      actions: [
        {
          id: 'delete',
          label: 'Delete',
          aria: `Delete volume ${name}`,
          busy: 'Deleting…',
          danger: true,
          run: () => this._deleteVolume(name, ours, mountedBy)
        }
      ]
    };
  }

  /** Delete a version (or the dataset) after a confirmation; a job still reading it asks a second time. */
  private async _deleteDataset(
    name: string,
    version: number | null
  ): Promise<void> {
    const what = version === null ? `dataset ${name}` : `${name}@${version}`;
    const confirmed = await confirmLoss(
      `Delete ${what}?`,
      version === null
        ? 'Every version is deleted; stored files no other dataset shares are freed.'
        : 'This version is deleted; stored files no other version shares are freed.',
      'Delete'
    );
    if (!confirmed) {
      return;
    }
    await this.act(`delete ${what}`, async () => {
      try {
        await deleteDataset(name, version, false, this.settings);
      } catch (error) {
        if (
          !(error instanceof KfResponseError) ||
          error.reason !== 'DatasetInUse'
        ) {
          throw error;
        }
        const why = error.message.split(': %kf_delete')[0];
        if (
          await confirmLoss(
            `${what} is in use`,
            `${why}. Delete it anyway? That job can no longer read it.`,
            'Delete anyway'
          )
        ) {
          await deleteDataset(name, version, true, this.settings);
        }
      }
    });
  }

  private async _deleteVolume(
    name: string,
    ours: boolean,
    mountedBy: string[]
  ): Promise<void> {
    const where = this.where;
    const notes = [
      'Its data is lost.',
      ours ? '' : 'jupyter_kf did not make it: someone else may rely on it.',
      mountedBy.length === 1
        ? 'Kubernetes keeps it until the pod that mounts it ends.'
        : mountedBy.length
          ? `Kubernetes keeps it until the ${mountedBy.length} pods that mount it end.`
          : ''
    ];
    if (
      await confirmLoss(
        `Delete volume ${name}?`,
        notes.filter(Boolean).join(' '),
        'Delete'
      )
    ) {
      await this.act(`delete volume ${name}`, () =>
        deleteVolume(name, !ours, this.settings, where)
      );
    }
  }
}

namespace Private {
  /** `v2 · 3 files · 1.2 MB · written by job train-abc`. */
  export function describeVersion(version: IDataVersion): string {
    const content =
      version.kind === 'object'
        ? `${version.format ?? 'object'}`
        : plural(version.files, 'file');
    const producer = version.producer?.job
      ? `written by job ${version.producer.job}`
      : '';
    return [`v${version.version}`, content, version.size_text, producer]
      .filter(Boolean)
      .join(' · ');
  }
}
