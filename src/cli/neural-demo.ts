/**
 * The neural half of `npm start`: each family trained briefly on the embedded WikiText-2 slice,
 * lowercased as the n-gram models there are. Brief means a fixed, small number of epochs — not a
 * time budget, so that the numbers are the same on every machine (for the same kernel backend)
 * and a busy machine only takes longer. These models are far from converged; `kotoba train
 * --model …` with `--valid` trains them properly.
 */
import { buildModel, countIds, orderFor, resolveConfig } from '../neural/build.js';
import type { NeuralModel } from '../neural/model.js';
import { ADAMW_WEIGHT_DECAY } from '../neural/optim.js';
import { Random } from '../util/random.js';
import { Trainer } from '../neural/trainer.js';
import type { Corpus } from '../text/corpus.js';
import { epochLine, TRAINING_DEFAULTS } from './train-neural.js';
import type { DemoModel } from './demo-models.js';

/** Trains one family for its fixed number of epochs on `train`, with `seed`, its kernels on `threads`. */
export async function trainDemoModel(m: DemoModel, train: Corpus, seed: number, threads: number | 'auto', progress: (line: string) => void): Promise<NeuralModel<unknown>> {
  const d = TRAINING_DEFAULTS[m.kind];
  const config = resolveConfig(m.kind, m.arch, train.vocab.size);
  const counts = countIds(train.tokens, train.vocab.size);
  const optimizer = m.optimizer ?? d.optimizer;
  const model = await buildModel(config, train.vocab, orderFor(config, counts), { shape: { batch: d.batch, bptt: d.bptt }, optimizer, threads });
  model.initialize(new Random(seed, 0), counts);
  progress(`training ${model.description} for ${m.epochs} epoch${m.epochs === 1 ? '' : 's'}`);
  const trainer = new Trainer(model, train.tokens, null, { epochs: m.epochs, lr: m.lr ?? d.lr, clip: d.clip, lrDecay: d.lrDecay, l2: optimizer === 'adamw' ? ADAMW_WEIGHT_DECAY : d.l2, seed }, { epoch: (r) => progress(epochLine(r)) });
  await trainer.run();
  return model;
}
