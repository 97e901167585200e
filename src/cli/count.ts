import { KotobaError } from '../errors.js';
import { checkOrder } from '../ngram/estimate.js';
import { countNgramFiles } from '../node/ngram-train.js';
import { checkStdoutOutput, commonOptions, formatCount, lineOptions, lineOptionsOf, textOptions, textOptionsOf, threadsOptions, toJson, type Command } from './common.js';
import { ngramProgress } from './ngram-progress.js';
import { estimationOf, scaleOptions, scaleOptionsOf } from './train.js';

export const count: Command = {
  name: 'count',
  summary: 'count the n-grams of one shard of a corpus into a count file, for train --from-counts',
  usage: 'kotoba count --order N -o SHARD.counts[.gz] [FILE…|-]',
  positionals: { names: ['FILE'], required: 0, repeats: true },
  examples: [
    'kotoba count --order 5 -o part1.counts.gz part1.txt',
    "ls part-*.txt | parallel -j 2 kotoba count --order 5 --threads 1 -o {.}.counts.gz {}",
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'count file to write (.counts; .counts.gz gzips it; - writes it to standard output)' },
    order: { type: 'integer', short: 'n', min: 1, max: 255, description: 'n-gram order (default 3); every shard of one model needs the same' },
    ...scaleOptions,
    ...threadsOptions,
    ...textOptions,
    ...lineOptions,
    ...commonOptions,
  },
  files: ({ positionals, options: o }) => ({
    inputs: (positionals.length > 0 ? positionals : ['-']).map((path) => ({ path, as: 'the text' })),
    outputs: [{ path: o.output, as: '-o' }],
  }),
  estimation: ({ positionals, options: o }) => estimationOf(positionals, o),
  async run(parsed, io) {
    const o = parsed.options;
    const output = o.output;
    if (typeof output !== 'string') throw new KotobaError('no output file given', 'pass -o SHARD.counts (or .counts.gz)');
    if (output === '-') {
      // A map step's output, for whatever stores it (a pipe, a redirection): never a terminal.
      if (process.stdout.isTTY) throw new KotobaError('a count file is binary: not written to a terminal', 'redirect standard output to a file, or pipe it on (| gzip > part.counts.gz)');
      checkStdoutOutput(output, o.json, 'the count file');
    } else if (!/\.counts(\.gz)?$/.test(output)) throw new KotobaError(`count files end in .counts or .counts.gz, not ${output}`, 'e.g. -o part1.counts.gz, or - for standard output');
    const order = checkOrder(typeof o.order === 'number' ? o.order : 3);
    const inputs = parsed.positionals.length > 0 ? parsed.positionals : ['-'];
    const started = performance.now();
    const progress = ngramProgress(io);
    const summary = await countNgramFiles(output, inputs, { order, ...textOptionsOf(o), ...lineOptionsOf(o), ...scaleOptionsOf(o), log: progress });
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    await io.wrote(output, `counts of order ${order}, ${formatCount(summary.words)} words`);
    if (o.json) {
      await io.stdout(toJson({ counts: output, order, vocabulary: summary.vocabulary, sentences: summary.sentences, words: summary.words, seconds, temp_peak_bytes: summary.tempPeakBytes, runs: summary.runs, merged_runs: summary.mergedRuns, stage_seconds: summary.stageSeconds }) + '\n');
    } else {
      io.progress(`counted ${order}-grams of ${summary.words} words in ${summary.sentences} sentences (${summary.vocabulary} word types) in ${seconds.toFixed(2)} s`);
    }
  },
};
