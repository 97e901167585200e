import { BackoffModel } from '../ngram/model.js';
import { formatForPath, readNgramTables, saveNgramModel } from '../node/ngram-files.js';
import { commonOptions, formatCount, toJson, type Command } from './common.js';

export const convert: Command = {
  name: 'convert',
  summary: 'convert an n-gram model between ARPA (plain or .gz) and the binary format',
  usage: 'kotoba convert IN OUT',
  positionals: { names: ['IN', 'OUT'], required: 2 },
  examples: ['kotoba convert wiki.arpa wiki.kblm', 'kotoba convert wiki.kblm wiki.arpa.gz'],
  options: { ...commonOptions },
  files: (parsed) => ({ models: [{ path: parsed.positionals[0], as: 'the input' }], outputs: [{ path: parsed.positionals[1], as: 'the output' }] }),
  async run(parsed, io) {
    const [input, output] = parsed.positionals as [string, string];
    const format = formatForPath(output);
    const started = performance.now();
    const tables = await readNgramTables(input, io.log.warn);
    await saveNgramModel(output, format === 'binary' ? BackoffModel.fromTables(tables) : tables);
    const seconds = (performance.now() - started) / 1000;
    const ngrams = tables.orders.map((o) => o.size);
    await io.wrote(output, `${format === 'binary' ? 'binary' : 'ARPA'}, order ${ngrams.length}, ${formatCount(ngrams.reduce((a, b) => a + b, 0))} n-grams`);
    if (parsed.options.json) await io.stdout(toJson({ input, output, format, ngrams, seconds }) + '\n');
  },
};
