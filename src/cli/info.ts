import { promises as fsp } from 'node:fs';
import { printable } from '../errors.js';
import { BackoffModel } from '../ngram/model.js';
import { loadModel } from '../node/models.js';
import { describeTextOptions, textOptionsToJson } from '../text/text-options.js';
import { fileError } from '../node/io.js';
import { commonOptions, toJson, type Command } from './common.js';

export const info: Command = {
  name: 'info',
  summary: 'describe a model: family, order, vocabulary, n-grams per order, size',
  usage: 'kotoba info MODEL',
  positionals: { names: ['MODEL'], required: 1 },
  examples: ['kotoba info wiki.kblm'],
  options: { ...commonOptions },
  files: (parsed) => ({ models: [{ path: parsed.positionals[0], as: 'the model' }], outputs: [] }),
  async run(parsed, io) {
    const [path] = parsed.positionals as [string];
    const bytes = await fsp.stat(path).then((s) => s.size, (e) => { throw fileError(e, path); });
    const lm = await loadModel(path, io.log.warn);
    const out: Record<string, unknown> = { model: path, bytes, description: lm.description, vocabulary: lm.vocab.size };
    // How text must be split for this model: applied by every command that reads text with it.
    out.text = lm.text ? (parsed.options.json ? textOptionsToJson(lm.text) : describeTextOptions(lm.text)) : parsed.options.json ? null : 'not stored (read as the flags say)';
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
    // The description and other fields come from the file: escape what could drive the terminal.
    for (const [k, v] of Object.entries(out)) text += `${k}:\t${printable(Array.isArray(v) ? v.join(' ') : String(v))}\n`;
    await io.stdout(text);
  },
};
