import { loadModel } from '../node/models.js';
import { lineBatches } from '../node/batches.js';
import { runBatches } from '../node/workers.js';
import { KotobaError } from '../errors.js';
import { commonOptions, textOptions, textOptionsOf, threadOptions, threadsOf, type Command } from './common.js';

export const score: Command = {
  name: 'score',
  summary: 'log10 probability of each sentence (per word with --words, like KenLM query)',
  usage: 'kotoba score MODEL [FILE|-]',
  examples: ['echo "the cat sat" | kotoba score wiki.arpa', 'kotoba score --words --json wiki.arpa corpus/wiki.valid.txt'],
  options: {
    words: { type: 'boolean', short: 'w', description: 'per-word scores: word=id ngram-length log10, as KenLM query prints them' },
    ...textOptions,
    ...threadOptions,
    ...commonOptions,
  },
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals;
    if (!modelPath) throw new KotobaError('no model given', 'usage: kotoba score MODEL [FILE|-]');
    const threads = threadsOf(parsed.options);
    const lm = await loadModel(modelPath, io.log.warn, { shared: threads > 1 });
    const format = { words: Boolean(parsed.options.words), json: Boolean(parsed.options.json) };
    const run = { threads, modelPath, text: textOptionsOf(parsed.options), source: input };
    for await (const text of runBatches(lm, lineBatches(input), { kind: 'score', format }, run)) await io.stdout(text as string);
  },
};
