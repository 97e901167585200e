/**
 * The neural families that `npm start` can train, and how briefly (neural-demo.ts trains them):
 * apart from the training code, so that the command line loads no neural module until one runs.
 */
import { KotobaError } from '../errors.js';
import type { ArchitectureOptions } from '../neural/build.js';
import type { NeuralKind } from '../neural/kinds.js';
import type { OptimizerName } from '../neural/optim.js';

export interface DemoModel {
  name: string;
  kind: NeuralKind;
  arch: ArchitectureOptions;
  epochs: number;
  lr?: number;
  /** The family's own (SGD) unless given. */
  optimizer?: OptimizerName;
}

/**
 * Small sizes and few epochs. Measured on the slice (seed 1; CPU seconds of training on one core
 * of an AMD EPYC; test perplexity alone, and mixed with the Kneser-Ney 5-gram's 290.65):
 * log-linear 18 s, 368, 274; feed-forward 9 s, 424, 272; RNN 9 s, 341, 251; LSTM 10 s, 360, 247.
 * The RNN alone takes `npm start` from the 5-gram's 290.65 to 250.87 for the cost of 9 seconds.
 */
export const DEMO_MODELS: Record<NeuralKind, DemoModel> = {
  loglinear: { name: 'log-linear, 3-gram', kind: 'loglinear', arch: { order: 3 }, epochs: 1 },
  ffnn: { name: 'feed-forward, 4-gram', kind: 'ffnn', arch: { order: 4, embed: 64, hidden: 128 }, epochs: 1 },
  rnn: { name: 'recurrent (Elman), 64 units', kind: 'rnn', arch: { hidden: 64 }, epochs: 3 },
  gru: { name: 'GRU, 64 units', kind: 'gru', arch: { hidden: 64, layers: 1, classes: 128 }, epochs: 2 },
  lstm: { name: 'LSTM, 64 units', kind: 'lstm', arch: { hidden: 64, layers: 1, classes: 128 }, epochs: 2 },
  // The window is the training BPTT (35, the default), as `kotoba train` sets it.
  transformer: { name: 'Transformer, 1 layer of 64', kind: 'transformer', arch: { embed: 64, hidden: 128, layers: 1, classes: 128, dropout: 0.1 }, epochs: 2, lr: 3e-3, optimizer: 'adamw' },
};

/** What `npm start` trains unless told otherwise: the family that does most for the mixture per second. */
export const DEFAULT_DEMO_FAMILIES: readonly NeuralKind[] = ['rnn'];

/** `--neural LIST`: a comma list of families, `all` or `none`. */
export function demoFamilies(list: string): NeuralKind[] {
  if (list === 'none') return [];
  if (list === 'all') return Object.keys(DEMO_MODELS) as NeuralKind[];
  const kinds = list.split(',').map((s) => s.trim());
  for (const k of kinds) {
    if (!Object.hasOwn(DEMO_MODELS, k)) throw new KotobaError(`--neural: unknown model family '${k}'`, `give a comma list of ${Object.keys(DEMO_MODELS).join(', ')}, or all, or none`);
  }
  return [...new Set(kinds as NeuralKind[])];
}
