import { Time } from '@jupyterlab/coreutils';

import {
  IModel,
  IWhere,
  deployModel,
  listModels,
  undeployModel
} from '../request';
import { describeWhere, plural } from './format';
import { askForm, confirmLoss } from './forms';
import { IAction, IRowView } from './row';
import { ISectionHost, Section } from './section';
import { MODEL_TONES } from './tones';

/** Deployed models: open the URL, undeploy; + deploys one from a URI. */

export class ModelsSection extends Section<IModel> {
  constructor(panel: ISectionHost) {
    super(panel, 'models', 'Models', 'model', {
      label: 'Deploy a model',
      aria: 'Deploy a model from a URI',
      run: () => this._create()
    });
  }

  protected fetch(where: IWhere): Promise<IModel[]> {
    return listModels(this.settings, where);
  }

  protected emptyState(): (string | Node)[] {
    if (!this.available) {
      return this.unavailable();
    }
    return [
      `No models deployed${this.emptyWhere()}. Press + to deploy one from a URI.`
    ];
  }

  protected view(model: IModel): IRowView {
    const name = model.name;
    const where = this.where;
    const phase =
      model.phase ?? model.status ?? (model.ready ? 'Ready' : 'Pending');
    const actions: IAction[] = [];
    if (model.url) {
      const url = model.url;
      actions.push({
        id: 'open',
        label: 'Open URL',
        aria: `Open the URL of model ${name}`,
        run: () => window.open(url, '_blank', 'noopener')
      });
    }
    actions.push({
      id: 'delete',
      label: 'Undeploy',
      aria: `Undeploy model ${name}`,
      busy: 'Undeploying…',
      danger: true,
      run: async () => {
        if (
          await confirmLoss(
            `Undeploy model ${name}?`,
            'Its endpoint stops answering; the model files at its URI stay.',
            'Undeploy'
          )
        ) {
          await this.act(`undeploy ${name}`, () =>
            undeployModel(name, this.settings, where)
          );
        }
      }
    });
    const r = model.resources ?? {};
    return {
      key: name,
      phase,
      tone: MODEL_TONES[phase] ?? 'unknown',
      created: model.created ?? null,
      times: model.created ? `Created ${Time.format(model.created)}` : '',
      resources: [
        model.format ?? '',
        model.protocol ?? '',
        r.gpus ? plural(r.gpus, 'GPU') : ''
      ]
        .filter(Boolean)
        .join(' · '),
      where: describeWhere(
        model.backend ?? 'local',
        'InferenceService',
        model.namespace ?? null
      ),
      message: [
        model.url ?? '',
        model.traffic ?? '',
        ...(model.reasons ?? []),
        model.message ?? ''
      ]
        .filter(Boolean)
        .join(' · '),
      actions
    };
  }

  private async _create(): Promise<void> {
    const where = this.where;
    const values = await askForm(
      'Deploy a model',
      [
        { name: 'name', label: 'Name', required: true, placeholder: 'iris' },
        {
          name: 'uri',
          label: 'Model URI',
          required: true,
          placeholder: 's3://bucket/model, pvc://claim/path or a folder'
        },
        {
          name: 'format',
          label: 'Format',
          placeholder: 'sklearn, xgboost, pytorch, onnx… (detected)'
        },
        { name: 'gpus', label: 'GPUs', type: 'number', min: 0, value: '0' }
      ],
      'Deploy'
    );
    if (!values) {
      return;
    }
    const body: Record<string, unknown> = { ...values };
    if (values.gpus) {
      body.gpus = Number(values.gpus);
    }
    await this.act('deploy the model', () =>
      deployModel(body, this.settings, where)
    );
  }
}
