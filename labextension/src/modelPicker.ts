/**
 * The model of the next run: a `<select>` of the models the kernel offers (its `%agent` model
 * first, then `TINYCODE_MODELS`). The run message carries the choice; the kernel checks it.
 */
import type { IModels } from './chatProtocol';

export class ModelPicker {
  readonly node = document.createElement('select');

  constructor() {
    this.node.className = 'jp-tinycode-model';
    this.node.title = 'The model of the next run (the kernel’s %agent model unless you pick another)';
    this.show({ action: 'models', default: '', models: [] });
  }

  /** The model to send: null for the kernel's default. */
  get model(): string | null {
    return this.node.value === '' ? null : this.node.value;
  }

  /** Offer `offered`; the current choice stays while it is still offered. */
  show(offered: IModels): void {
    const chosen = this.node.value;
    const label = offered.default === '' ? 'default model' : offered.default;
    const options = [new Option(label, '')];
    for (const name of offered.models.filter(name => name !== offered.default)) {
      options.push(new Option(name, name));
    }
    this.node.replaceChildren(...options);
    this.node.value = options.some(option => option.value === chosen) ? chosen : '';
    this.node.disabled = options.length === 1;
  }
}
