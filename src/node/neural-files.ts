/**
 * Neural model files on disk: safetensors written atomically, read with clear errors. Importing it
 * registers the loader of neural-loader.ts, which opens them for `loadModel`.
 */
import { KotobaError } from '../errors.js';
import type { BuildOptions } from '../neural/build.js';
import type { NeuralModel } from '../neural/model.js';
import { loadWeights, neuralModelFile, readNeuralFile, type NeuralFileContents, type NeuralFileExtras } from '../neural/model-file.js';
import { decodeSafetensors, encodeSafetensors } from '../neural/safetensors.js';
import { buildModel } from '../neural/build.js';
import { readBytes, writeAtomic } from './io.js';

export { checkpointPathFor, NEURAL_EXTENSION } from './neural-loader.js';

/**
 * Writes a model (and, in `extras.checkpoint`, training state) as safetensors, atomically.
 *
 * @example
 * ```ts
 * import type { NeuralModel, Trainer } from 'kotoba';
 * import { saveNeuralModel } from 'kotoba/node';
 * declare const model: NeuralModel<unknown>;
 * declare const trainer: Trainer;
 * await saveNeuralModel('lstm.safetensors', model, { history: trainer.state.history });
 * ```
 */
export async function saveNeuralModel(path: string, model: NeuralModel<unknown>, extras: NeuralFileExtras = {}): Promise<void> {
  const { tensors, metadata } = neuralModelFile(model, extras);
  const chunks = encodeSafetensors(tensors, metadata);
  await writeAtomic(path, async (out) => {
    for (const c of chunks) await out(c);
  });
}

/** Reads and checks a neural model file without building the model. */
export async function readNeuralModelFile(path: string): Promise<NeuralFileContents> {
  if (path.endsWith('.gz')) throw new KotobaError(`${path}: neural models are not gzipped`, 'give the .safetensors file');
  const bytes = await readBytes(path);
  return readNeuralFile(decodeSafetensors(bytes, path), path);
}

/** Opens a neural model file for scoring (or, with `shape`, for training). */
export async function loadNeuralModel(path: string, options: BuildOptions = {}): Promise<NeuralModel<unknown>> {
  const c = await readNeuralModelFile(path);
  const model = await buildModel(c.config, c.vocab, c.order, options);
  loadWeights(model, c.weights, path);
  model.text = c.text;
  return model;
}
