import { PerplexityAccumulator, scoreSentence } from '../lm.js';
import { loadModel } from '../node/models.js';
import { readLines } from '../node/io.js';
import { tokenizer } from '../text/tokenize.js';
import { KotobaError } from '../errors.js';
import { commonOptions, fmt, textOptions, textOptionsOf, toJson, type Command } from './common.js';

export const ppl: Command = {
  name: 'ppl',
  summary: 'perplexity of a model on a text, counted as KenLM counts it',
  usage: 'kotoba ppl MODEL [FILE|-]',
  examples: ['kotoba ppl wiki.arpa corpus/wiki.valid.txt', 'kotoba ppl --json wiki.kblm corpus/wiki.valid.txt'],
  options: { ...textOptions, ...commonOptions },
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals;
    if (!modelPath) throw new KotobaError('no model given', "usage: kotoba ppl MODEL [FILE|-]");
    const lm = await loadModel(modelPath, io.log.warn);
    const tokenize = tokenizer(textOptionsOf(parsed.options));
    const acc = new PerplexityAccumulator();
    for await (const line of readLines(input)) {
      const ids = tokenize(line).map((w) => lm.vocab.id(w));
      const { words } = scoreSentence(lm, ids);
      acc.addSentence(
        words.map((w) => w.id),
        words.map((w) => w.log10),
      );
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
