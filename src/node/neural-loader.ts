/**
 * Neural model files' names, and their loader for `loadModel` (and with it `kotoba ppl`, `kotoba
 * score`). The loader brings in the neural code (neural-files.ts) only when a neural model is
 * opened, so that a command on n-gram models starts without it.
 */
import { looksLikeSafetensors } from '../neural/safetensors.js';
import { registerModelLoader } from './models.js';

export const NEURAL_EXTENSION = '.safetensors';

/** The checkpoint written beside a model: `lm.safetensors` → `lm.ckpt.safetensors`. */
export function checkpointPathFor(modelPath: string): string {
  return modelPath.endsWith(NEURAL_EXTENSION)
    ? modelPath.slice(0, -NEURAL_EXTENSION.length) + '.ckpt' + NEURAL_EXTENSION
    : modelPath + '.ckpt' + NEURAL_EXTENSION;
}

registerModelLoader({
  accepts: (head, path) => path.endsWith(NEURAL_EXTENSION) || looksLikeSafetensors(head),
  load: async (path, _warn, options) => {
    const { loadNeuralModel } = await import('./neural-files.js');
    return loadNeuralModel(path, { threads: options?.threads ?? 1 });
  },
});
