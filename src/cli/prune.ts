import { KotobaError } from '../errors.js';
import { BackoffModel } from '../ngram/model.js';
import { pruneRelativeEntropy } from '../ngram/prune.js';
import { formatForPath, readNgramTables, saveNgramModel } from '../node/ngram-files.js';
import { checkStdoutOutput, commonOptions, formatCount, toJson, type Command } from './common.js';

export const prune: Command = {
  name: 'prune',
  summary: 'relative-entropy pruning of an n-gram model (Stolcke 1998, like SRILM -prune)',
  usage: 'kotoba prune --threshold θ MODEL -o OUT',
  positionals: { names: ['MODEL'], required: 1 },
  examples: ['kotoba prune --threshold 1e-7 wiki.arpa -o wiki.pruned.arpa'],
  options: {
    threshold: { type: 'number', short: 't', value: 'θ', min: 0, description: 'drop n-grams that raise perplexity by less than this relative amount (e.g. 1e-7)' },
    output: { type: 'string', short: 'o', value: 'OUT', description: 'pruned model (.arpa, .arpa.gz or .kblm; - writes ARPA text to standard output)' },
    ...commonOptions,
  },
  files: (parsed) => ({ models: [{ path: parsed.positionals[0], as: 'the model' }], outputs: [{ path: parsed.options.output, as: '-o' }] }),
  async run(parsed, io) {
    const [input] = parsed.positionals as [string];
    const o = parsed.options;
    if (typeof o.output !== 'string') throw new KotobaError('no output model given', 'pass -o OUT');
    if (typeof o.threshold !== 'number') throw new KotobaError('no pruning threshold given', 'pass --threshold θ, e.g. 1e-7');
    formatForPath(o.output);
    checkStdoutOutput(o.output, o.json);
    const before = BackoffModel.fromTables(await readNgramTables(input, io.log.warn));
    const after = pruneRelativeEntropy(before, o.threshold);
    await saveNgramModel(o.output, after);
    const total = (counts: readonly number[]) => formatCount(counts.reduce((a, b) => a + b, 0));
    io.progress(`n-grams per order: ${before.counts.join(' ')} → ${after.counts.join(' ')}`);
    await io.wrote(o.output, `order ${after.order}, ${total(after.counts)} n-grams (of ${total(before.counts)})`);
    if (o.json) await io.stdout(toJson({ input, output: o.output, threshold: o.threshold, before: before.counts, after: after.counts }) + '\n');
  },
};
