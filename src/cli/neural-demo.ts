/**
 * The neural half of `npm start`: each family trained briefly (a fixed time budget, a fixed seed)
 * on the embedded WikiText-2 slice, lowercased as the n-gram models there are, so that the demo's
 * table runs from counts to recurrent networks. Brief means brief: these models see less than
 * two epochs and are far from converged; `npm run bench:neural -- --long` trains them properly.
 */
import { buildModel, countIds, orderFor, resolveConfig, type ArchitectureOptions } from '../neural/build.js';
import type { NeuralKind } from '../neural/model.js';
import { Random } from '../neural/random.js';
import { Trainer } from '../neural/trainer.js';
import type { Corpus } from '../text/corpus.js';
import { TRAINING_DEFAULTS } from './train-neural.js';

interface DemoModel {
  name: string;
  kind: NeuralKind;
  arch: ArchitectureOptions;
  /** Seconds of training. */
  seconds: number;
  lr?: number;
}

/**
 * Small sizes and short budgets: 90 seconds for all four, so that `npm start` stays near two
 * minutes. Measured test perplexities on the slice: log-linear 378, ffnn 328, rnn 294, lstm 278,
 * against 295 for the Kneser-Ney trigram and 291 for the 5-gram (on a busy machine, which trains
 * fewer steps in the same time: 409, 395, 322, 334).
 */
export const DEMO_MODELS: DemoModel[] = [
  { name: 'log-linear, 3-gram', kind: 'loglinear', arch: { order: 3 }, seconds: 15 },
  { name: 'feed-forward, 4-gram', kind: 'ffnn', arch: { order: 4, embed: 64, hidden: 128 }, seconds: 20 },
  { name: 'recurrent (Elman)', kind: 'rnn', arch: { hidden: 128 }, seconds: 27 },
  { name: 'LSTM', kind: 'lstm', arch: { hidden: 128, layers: 1, classes: 128 }, seconds: 28, lr: 10 },
];

/** Trains each family briefly on `train` (kernels on `threads`); the demo prints their test perplexities beside the n-grams'. */
export async function neuralDemoModels(train: Corpus, log: (line: string) => void, threads: number | 'auto' = 1) {
  const counts = countIds(train.tokens, train.vocab.size);
  const out = [];
  for (const m of DEMO_MODELS) {
    const t0 = performance.now();
    const d = TRAINING_DEFAULTS[m.kind];
    const config = resolveConfig(m.kind, m.arch, train.vocab.size);
    const model = await buildModel(config, train.vocab, orderFor(config, counts), { shape: { batch: d.batch, bptt: d.bptt }, threads });
    model.initialize(new Random(1, 0), counts);
    log(`training ${model.description} for ${m.seconds} s`);
    await new Trainer(model, train.tokens, null, { epochs: 100, lr: m.lr ?? d.lr, clip: d.clip, lrDecay: d.lrDecay, seed: 1, maxTime: m.seconds }).run();
    out.push({ name: m.name, model, seconds: (performance.now() - t0) / 1000, parameters: model.params.count });
  }
  return out;
}
