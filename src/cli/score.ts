import { scoreWordIds } from '../lm.js';
import { loadModel } from '../node/models.js';
import { readLines } from '../node/io.js';
import { IdBuffer } from '../text/corpus.js';
import { wordVisitor } from '../text/tokenize.js';
import { EOS, UNK } from '../text/vocabulary.js';
import { commonOptions, contextOf, contextOption, fmt32, lineOptions, lineOptionsOf, textOptions, textOptionsFor, threadsOf, threadsOptions, type Command } from './common.js';

/** A number in JSON: non-finite as null, as `toJson` writes it. */
const jsonNumber = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');

export const score: Command = {
  name: 'score',
  summary: 'log10 probability of each sentence (per word with --words, like KenLM query)',
  usage: 'kotoba score MODEL [FILE|-]',
  positionals: { names: ['MODEL', 'FILE'], required: 1 },
  examples: ['echo "the cat sat" | kotoba score wiki.arpa', 'kotoba score --words --json wiki.arpa corpus/wiki.valid.txt'],
  options: {
    words: { type: 'boolean', short: 'w', description: 'per-word scores: word=id ngram-length log10, as KenLM query prints them' },
    ...textOptions,
    ...contextOption,
    ...lineOptions,
    ...threadsOptions,
    ...commonOptions,
  },
  files: ({ positionals: [model, input = '-'] }) => ({ models: [{ path: model, as: 'the model' }], inputs: [{ path: input, as: 'the text' }], outputs: [] }),
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals as [string, string?];
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    const eachWord = wordVisitor(textOptionsFor(lm, parsed.options, modelPath));
    // In stream context each line continues from the state after the line before.
    const streamScore = contextOf(parsed.options, lm) === 'stream' ? lm.scoreStream!.bind(lm) : null;
    let state: unknown = null;
    const perWord = Boolean(parsed.options.words);
    const json = Boolean(parsed.options.json);
    // One line at a time in arrays reused across lines, and its output flushed as it grows, so
    // that a line of millions of words costs a few bytes per word.
    const ids = new IdBuffer(1 << 10);
    let log10 = new Float64Array(0);
    let ngram = new Uint8Array(0);
    let buf = '';
    const FLUSH = 1 << 16;
    for await (const line of readLines(input, lineOptionsOf(parsed.options))) {
      ids.length = 0;
      const unknown: string[] = []; // the unknown words as written, in order
      eachWord(line, (w) => {
        const id = lm.vocab.id(w);
        if (id === UNK) unknown.push(w);
        ids.push(id);
      });
      ids.push(EOS);
      const words = ids.view();
      if (log10.length < words.length) {
        log10 = new Float64Array(ids.data.length);
        ngram = new Uint8Array(ids.data.length);
      }
      let total = 0;
      if (streamScore) {
        state = streamScore(state, words, log10);
        ngram.fill(0, 0, words.length);
        for (let i = 0; i < words.length; i++) total = Math.fround(total + log10[i]!);
      } else total = scoreWordIds(lm, words, log10, ngram);
      const oov = unknown.length;
      if (json) buf += `{"total":${jsonNumber(total)},"oov":${oov}${perWord ? ',"words":[' : '}\n'}`;
      if (perWord) {
        for (let i = 0, k = 0; i < words.length; i++) {
          const id = words[i]!;
          const word = id === UNK ? unknown[k++]! : lm.vocab.word(id);
          if (json) buf += `${i > 0 ? ',' : ''}{"word":${JSON.stringify(word)},"log10":${jsonNumber(log10[i]!)},"ngram":${ngram[i] || null},"oov":${id === UNK}}`;
          else buf += `${word}=${id} ${ngram[i]!} ${fmt32(log10[i]!)}\t`; // KenLM query's layout
          if (buf.length > FLUSH) {
            await io.stdout(buf);
            buf = '';
          }
        }
        buf += json ? ']}\n' : `Total: ${fmt32(total)} OOV: ${oov}\n`;
      } else if (!json) {
        buf += `${fmt32(total)}\n`;
      }
      if (buf.length > FLUSH) {
        await io.stdout(buf);
        buf = '';
      }
    }
    await io.stdout(buf);
  },
};
