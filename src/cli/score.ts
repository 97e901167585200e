import { scoreSentence } from '../lm.js';
import { loadModel } from '../node/models.js';
import { readLines } from '../node/io.js';
import { tokenizer } from '../text/tokenize.js';
import { KotobaError } from '../errors.js';
import { formatFloat32 } from '../ngram/arpa.js';
import { commonOptions, threadsOf, threadsOptions, fmt, textOptions, textOptionsOf, toJson, type Command } from './common.js';

export const score: Command = {
  name: 'score',
  summary: 'log10 probability of each sentence (per word with --words, like KenLM query)',
  usage: 'kotoba score MODEL [FILE|-]',
  examples: ['echo "the cat sat" | kotoba score wiki.arpa', 'kotoba score --words --json wiki.arpa corpus/wiki.valid.txt'],
  options: {
    words: { type: 'boolean', short: 'w', description: 'per-word scores: word=id ngram-length log10, as KenLM query prints them' },
    ...textOptions,
    ...threadsOptions,
    ...commonOptions,
  },
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals;
    if (!modelPath) throw new KotobaError('no model given', 'usage: kotoba score MODEL [FILE|-]');
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    const tokenize = tokenizer(textOptionsOf(parsed.options));
    const perWord = Boolean(parsed.options.words);
    const json = Boolean(parsed.options.json);
    let buf = '';
    for await (const line of readLines(input)) {
      const surface = tokenize(line);
      const ids = surface.map((w) => lm.vocab.id(w));
      const r = scoreSentence(lm, ids, true, surface);
      const oov = r.words.reduce((n, w) => n + (w.oov ? 1 : 0), 0);
      if (json) {
        const obj: Record<string, unknown> = { total: r.total, oov };
        if (perWord) obj.words = r.words.map((w) => ({ word: w.word, log10: w.log10, ngram: w.ngram ?? null, oov: w.oov }));
        buf += toJson(obj) + '\n';
      } else if (perWord) {
        // KenLM query layout: word=id ngram log10, tab-separated, then the total.
        for (const w of r.words) buf += `${w.word}=${w.id} ${w.ngram ?? 0} ${formatFloat32(Math.fround(w.log10))}\t`;
        buf += `Total: ${formatFloat32(r.total)} OOV: ${oov}\n`;
      } else {
        buf += `${fmt(r.total)}\n`;
      }
      if (buf.length > 1 << 16) {
        await io.stdout(buf);
        buf = '';
      }
    }
    await io.stdout(buf);
  },
};
