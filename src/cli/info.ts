import { promises as fsp } from 'node:fs';
import { printable } from '../errors.js';
import { BackoffModel } from '../ngram/model.js';
import { isBinaryModel } from '../ngram/binary.js';
import { loadModel } from '../node/models.js';
import { describeTextOptions, textOptionsToJson } from '../text/text-options.js';
import { fileError } from '../node/io.js';
import { commonOptions, toJson, type Command } from './common.js';

/** The first bytes of a file (to tell a binary model from ARPA text). */
async function head(path: string): Promise<Uint8Array> {
  const handle = await fsp.open(path, 'r');
  try {
    const b = new Uint8Array(8);
    const { bytesRead } = await handle.read(b, 0, 8, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

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
      out.format = isBinaryModel(await head(path)) ? lm.format : 'arpa';
      out.order = lm.order;
      out.ngrams = lm.counts;
      const q = lm.search.quantization;
      out.quantization = q ? `${q.probBits}-bit probabilities, ${q.backoffBits}-bit backoffs` : 'none';
      out.bytes_per_ngram = Number((bytes / lm.counts.reduce((a, b) => a + b, 0)).toFixed(2));
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
