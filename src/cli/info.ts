import { promises as fsp } from 'node:fs';
import { BackoffModel } from '../ngram/model.js';
import { loadModel } from '../node/models.js';
import { fileError } from '../node/io.js';
import { commonOptions, toJson, type Command } from './common.js';

export const info: Command = {
  name: 'info',
  summary: 'describe a model: family, order, vocabulary, n-grams per order, size',
  usage: 'kotoba info MODEL',
  positionals: { names: ['MODEL'], required: 1 },
  examples: ['kotoba info wiki.kblm'],
  options: { ...commonOptions },
  async run(parsed, io) {
    const [path] = parsed.positionals as [string];
    const bytes = await fsp.stat(path).then((s) => s.size, (e) => { throw fileError(e, path); });
    const lm = await loadModel(path, io.log.warn);
    const out: Record<string, unknown> = { model: path, bytes, description: lm.description, vocabulary: lm.vocab.size };
    if (lm instanceof BackoffModel) {
      out.family = 'ngram';
      out.order = lm.order;
      out.ngrams = lm.counts;
    }
    const extra = (lm as { info?: () => Record<string, unknown> }).info?.();
    if (extra) Object.assign(out, extra);
    if (parsed.options.json) {
      await io.stdout(toJson(out) + '\n');
      return;
    }
    let text = '';
    for (const [k, v] of Object.entries(out)) text += `${k}:\t${Array.isArray(v) ? v.join(' ') : String(v)}\n`;
    await io.stdout(text);
  },
};
