import { PerplexityAccumulator, scoreStream, scoreTokens } from '../lm.js';
import { CorpusBuilder } from '../text/corpus.js';
import { loadModel } from '../node/models.js';
import { readLines } from '../node/io.js';
import { KotobaError } from '../errors.js';
import { commonOptions, contextOf, contextOption, fmt, threadsOf, threadsOptions, lineOptions, lineOptionsOf, textOptions, textOptionsFor, toJson, type Command } from './common.js';

export const ppl: Command = {
  name: 'ppl',
  summary: 'perplexity of a model on a text, counted as KenLM counts it',
  usage: 'kotoba ppl MODEL [FILE|-]',
  positionals: { names: ['MODEL', 'FILE'], required: 1 },
  examples: ['kotoba ppl wiki.arpa corpus/wiki.valid.txt', 'kotoba ppl --json wiki.kblm corpus/wiki.valid.txt', 'kotoba ppl --context stream lstm.safetensors corpus/wiki.test.txt'],
  options: { ...textOptions, ...contextOption, ...lineOptions, ...threadsOptions, ...commonOptions },
  files: ({ positionals: [model, input = '-'] }) => ({ models: [{ path: model, as: 'the model' }], inputs: [{ path: input, as: 'the text' }], outputs: [] }),
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals as [string, string?];
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    const context = contextOf(parsed.options, lm);
    const acc = new PerplexityAccumulator();
    // Lines become token streams in batches, scored through the model's fast path; in stream
    // context the state after one batch's last line starts the next batch.
    const batch = new CorpusBuilder({ ...textOptionsFor(lm, parsed.options, modelPath), vocab: lm.vocab, source: input });
    let state: unknown = null;
    const flush = () => {
      if (batch.pendingTokens === 0) return;
      if (context === 'sentence') acc.merge(scoreTokens(lm, batch.takeTokens(), 'sentence'));
      else {
        const r = scoreStream(lm, batch.takeTokens(), state);
        acc.merge(r.acc);
        state = r.state;
      }
    };
    for await (const line of readLines(input, lineOptionsOf(parsed.options))) {
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
