import { KotobaError } from '../errors.js';
import { formatForPath, loadNgramModel, readNgramTables, saveNgramModel } from '../node/ngram-files.js';
import type { Quantization } from '../ngram/search.js';
import { checkStdoutOutput, commonOptions, formatCount, toJson, type Command } from './common.js';

export const convert: Command = {
  name: 'convert',
  summary: 'convert an n-gram model between ARPA (plain or .gz) and the binary formats (probing, trie)',
  usage: 'kotoba convert [--format probing|trie] [--quantize Q [--quantize-backoff B]] IN OUT',
  positionals: { names: ['IN', 'OUT'], required: 2 },
  examples: ['kotoba convert wiki.arpa wiki.kblm', 'kotoba convert --format trie --quantize 8 wiki.arpa wiki.q8.kblm', 'kotoba convert wiki.kblm wiki.arpa.gz', 'kotoba convert wiki.kblm - | head  # ARPA text on standard output'],
  options: {
    format: { type: 'string', value: 'FORMAT', description: 'binary structure: probing (fastest, default) or trie (smallest)' },
    quantize: { type: 'integer', value: 'Q', min: 2, max: 25, description: "trie only: store log10 probabilities in Q bits (KenLM's -q; 8 is usual)" },
    'quantize-backoff': { type: 'integer', value: 'B', min: 2, max: 25, description: "trie only: store backoffs in B bits (default: Q, as KenLM's -b)" },
    ...commonOptions,
  },
  files: (parsed) => ({ models: [{ path: parsed.positionals[0], as: 'the input' }], outputs: [{ path: parsed.positionals[1], as: 'the output' }] }),
  async run(parsed, io) {
    const [input, output] = parsed.positionals as [string, string];
    const o = parsed.options;
    const fileFormat = formatForPath(output);
    checkStdoutOutput(output, o.json);
    const structure = o.format ?? 'probing';
    if (structure !== 'probing' && structure !== 'trie') throw new KotobaError(`unknown --format '${String(structure)}'`, 'use probing or trie');
    if (o.format !== undefined && fileFormat !== 'binary') throw new KotobaError(`--format is for binary models, not ${output}`, 'name the output .kblm');
    let quantization: Quantization | undefined;
    if (o['quantize-backoff'] !== undefined && o.quantize === undefined) throw new KotobaError('--quantize-backoff needs --quantize', 'e.g. --quantize 8 --quantize-backoff 8');
    if (typeof o.quantize === 'number') {
      if (structure !== 'trie') throw new KotobaError('quantization is only for the trie format', 'add --format trie');
      const backoff = typeof o['quantize-backoff'] === 'number' ? o['quantize-backoff'] : o.quantize;
      quantization = { probBits: o.quantize, backoffBits: backoff };
    }
    const started = performance.now();
    let counts: number[];
    if (fileFormat === 'binary') {
      const model = (await loadNgramModel(input, io.log.warn)).withFormat(structure, quantization);
      counts = model.counts;
      await saveNgramModel(output, model);
    } else {
      // ARPA out: the tables as read, in their order.
      const tables = await readNgramTables(input, io.log.warn);
      counts = tables.orders.map((t) => t.size);
      await saveNgramModel(output, tables);
    }
    const seconds = (performance.now() - started) / 1000;
    const format = fileFormat === 'binary' ? structure : 'arpa';
    const what = fileFormat === 'binary' ? `binary (${structure}${quantization ? `, ${quantization.probBits}-bit probabilities, ${quantization.backoffBits}-bit backoffs` : ''})` : 'ARPA';
    await io.wrote(output, `${what}, order ${counts.length}, ${formatCount(counts.reduce((a, b) => a + b, 0))} n-grams`);
    if (parsed.options.json) await io.stdout(toJson({ input, output, format, quantization: quantization ?? null, ngrams: counts, seconds }) + '\n');
  },
};
