import { PerplexityAccumulator, type PerplexityRecord } from '../lm.js';
import { lineBatches } from '../node/batches.js';
import { runBatches } from '../node/workers.js';
import { KotobaError } from '../errors.js';
import { commonOptions, contextOf, contextOption, fmt, lineOptions, lineOptionsOf, openScoringModel, textOptions, threadsOptions, toJson, type Command } from './common.js';

export const ppl: Command = {
  name: 'ppl',
  summary: 'perplexity of a model on a text, counted as KenLM counts it',
  usage: 'kotoba ppl MODEL [FILE|-]',
  positionals: { names: ['MODEL', 'FILE'], required: 1 },
  examples: ['kotoba ppl wiki.arpa corpus/wiki.valid.txt', 'kotoba ppl --json --threads 2 wiki.kblm corpus/wiki.valid.txt', 'kotoba ppl --context stream lstm.safetensors corpus/wiki.test.txt'],
  options: { ...textOptions, ...contextOption, ...lineOptions, ...threadsOptions, ...commonOptions },
  files: ({ positionals: [model, input = '-'] }) => ({ models: [{ path: model, as: 'the model' }], inputs: [{ path: input, as: 'the text' }], outputs: [] }),
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals as [string, string?];
    const { lm, run } = await openScoringModel(modelPath, parsed.options, io, input);
    const context = contextOf(parsed.options, lm);
    const acc = new PerplexityAccumulator();
    // Batches of lines, scored on every thread (sentence context) or in order (stream context:
    // each line continues from the state after the line before).
    for await (const part of runBatches(lm, lineBatches(input, lineOptionsOf(parsed.options)), { kind: 'ppl', context }, run)) {
      acc.mergeRecord(part as PerplexityRecord);
    }
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
          context,
        }) + '\n',
      );
      return;
    }
    await io.stdout(
      `Perplexity including OOVs:\t${fmt(acc.perplexity)}\n` +
        `Perplexity excluding OOVs:\t${fmt(acc.perplexityExcludingOov)}\n` +
        `OOVs:\t${acc.oov}\n` +
        `Tokens:\t${acc.tokens}\n` +
        (lm.context !== undefined ? `Context:\t${context}\n` : ''),
    );
    if (acc.zeroProbability > 0) {
      io.log.warn(`${acc.zeroProbability} tokens have probability 0 under this model, so the perplexity is infinite (use a smoothed model)`);
    }
  },
};
