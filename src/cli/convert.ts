import { KotobaError } from '../errors.js';
import { BackoffModel } from '../ngram/model.js';
import { formatForPath, readNgramTables, saveNgramModel } from '../node/ngram-files.js';
import { commonOptions, toJson, type Command } from './common.js';

export const convert: Command = {
  name: 'convert',
  summary: 'convert an n-gram model between ARPA (plain or .gz) and the binary format',
  usage: 'kotoba convert IN OUT',
  examples: ['kotoba convert wiki.arpa wiki.kblm', 'kotoba convert wiki.kblm wiki.arpa.gz'],
  options: { ...commonOptions },
  files: (parsed) => ({ models: [{ path: parsed.positionals[0], as: 'the input' }], outputs: [{ path: parsed.positionals[1], as: 'the output' }] }),
  async run(parsed, io) {
    const [input, output] = parsed.positionals;
    if (!input || !output || parsed.positionals.length > 2) throw new KotobaError('convert needs an input and an output model', 'usage: kotoba convert IN OUT');
    const format = formatForPath(output);
    const started = performance.now();
    const tables = await readNgramTables(input, io.log.warn);
    await saveNgramModel(output, format === 'binary' ? BackoffModel.fromTables(tables) : tables);
    const seconds = (performance.now() - started) / 1000;
    if (parsed.options.json) await io.stdout(toJson({ input, output, format, ngrams: tables.orders.map((o) => o.size), seconds }) + '\n');
    else io.progress(`wrote ${output} (${format}) in ${seconds.toFixed(2)} s`);
  },
};
