import { PerplexityAccumulator, type PerplexityRecord } from '../lm.js';
import { loadModel } from '../node/models.js';
import { lineBatches } from '../node/batches.js';
import { runBatches } from '../node/workers.js';
import { KotobaError } from '../errors.js';
import { commonOptions, fmt, textOptions, textOptionsOf, threadOptions, threadsOf, toJson, type Command } from './common.js';

export const ppl: Command = {
  name: 'ppl',
  summary: 'perplexity of a model on a text, counted as KenLM counts it',
  usage: 'kotoba ppl MODEL [FILE|-]',
  examples: ['kotoba ppl wiki.arpa corpus/wiki.valid.txt', 'kotoba ppl --json wiki.kblm corpus/wiki.valid.txt'],
  options: { ...textOptions, ...threadOptions, ...commonOptions },
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals;
    if (!modelPath) throw new KotobaError('no model given', "usage: kotoba ppl MODEL [FILE|-]");
    const threads = threadsOf(parsed.options);
    const lm = await loadModel(modelPath, io.log.warn, { shared: threads > 1 });
    const acc = new PerplexityAccumulator();
    const run = { threads, modelPath, text: textOptionsOf(parsed.options), source: input };
    for await (const part of runBatches(lm, lineBatches(input), { kind: 'ppl' }, run)) acc.mergeRecord(part as PerplexityRecord);
    if (acc.tokens === 0) throw new KotobaError(`${input}: no text to score`, 'give a text file with one sentence per line');
    if (parsed.options.json) {
      await io.stdout(
        toJson({
          perplexity: acc.perplexity,
          perplexity_excluding_oov: acc.perplexityExcludingOov,
          oov: acc.oov,
          tokens: acc.tokens,
          sentences: acc.sentences,
          log10_total: acc.log10Sum,
          entropy_bits: acc.entropyBits,
          zero_probability: acc.zeroProbability,
        }) + '\n',
      );
      return;
    }
    await io.stdout(
      `Perplexity including OOVs:\t${fmt(acc.perplexity)}\n` +
        `Perplexity excluding OOVs:\t${fmt(acc.perplexityExcludingOov)}\n` +
        `OOVs:\t${acc.oov}\n` +
        `Tokens:\t${acc.tokens}\n`,
    );
    if (acc.zeroProbability > 0) {
      io.log.warn(`${acc.zeroProbability} tokens have probability 0 under this model, so the perplexity is infinite (use a smoothed model)`);
    }
  },
};
