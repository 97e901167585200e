import { PerplexityAccumulator, scoreTokens } from '../lm.js';
import { CorpusBuilder } from '../text/corpus.js';
import { loadModel } from '../node/models.js';
import { readLines } from '../node/io.js';
import { KotobaError } from '../errors.js';
import { commonOptions, threadsOf, threadsOptions, fmt, textOptions, textOptionsOf, toJson, type Command } from './common.js';

export const ppl: Command = {
  name: 'ppl',
  summary: 'perplexity of a model on a text, counted as KenLM counts it',
  usage: 'kotoba ppl MODEL [FILE|-]',
  examples: ['kotoba ppl wiki.arpa corpus/wiki.valid.txt', 'kotoba ppl --json wiki.kblm corpus/wiki.valid.txt'],
  options: { ...textOptions, ...threadsOptions, ...commonOptions },
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals;
    if (!modelPath) throw new KotobaError('no model given', "usage: kotoba ppl MODEL [FILE|-]");
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    const acc = new PerplexityAccumulator();
    // Lines become token streams in batches, scored through the model's fast path.
    const batch = new CorpusBuilder({ ...textOptionsOf(parsed.options), vocab: lm.vocab, source: input });
    const flush = () => {
      if (batch.pendingTokens > 0) acc.merge(scoreTokens(lm, batch.takeTokens()));
    };
    for await (const line of readLines(input)) {
      batch.addLine(line);
      if (batch.pendingTokens > 1 << 20) flush();
    }
    flush();
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
