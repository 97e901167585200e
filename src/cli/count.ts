import { KotobaError } from '../errors.js';
import { checkOrder } from '../ngram/estimate.js';
import { checkWritable } from '../node/io.js';
import { countNgramFiles } from '../node/ngram-train.js';
import { commonOptions, textOptions, textOptionsOf, toJson, type Command } from './common.js';
import { ngramProgress } from './ngram-progress.js';
import { scaleOptions, scaleOptionsOf } from './train.js';

export const count: Command = {
  name: 'count',
  summary: 'count the n-grams of one shard of a corpus into a count file, for train --from-counts',
  usage: 'kotoba count --order N -o SHARD.counts[.gz] [FILE…|-]',
  examples: [
    'kotoba count --order 5 -o part1.counts.gz part1.txt',
    "ls part-*.txt | parallel -j 2 kotoba count --order 5 --threads 1 -o {.}.counts.gz {}",
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'count file to write (.counts; .counts.gz gzips it)' },
    order: { type: 'integer', short: 'n', description: 'n-gram order (default 3); every shard of one model needs the same' },
    ...scaleOptions,
    ...textOptions,
    ...commonOptions,
  },
  async run(parsed, io) {
    const o = parsed.options;
    const output = o.output;
    if (typeof output !== 'string') throw new KotobaError('no output file given', 'pass -o SHARD.counts (or .counts.gz)');
    if (!/\.counts(\.gz)?$/.test(output)) throw new KotobaError(`count files end in .counts or .counts.gz, not ${output}`, 'e.g. -o part1.counts.gz');
    await checkWritable(output);
    const order = checkOrder(typeof o.order === 'number' ? o.order : 3);
    const inputs = parsed.positionals.length > 0 ? parsed.positionals : ['-'];
    const started = performance.now();
    const progress = ngramProgress(io);
    const summary = await countNgramFiles(output, inputs, { order, ...textOptionsOf(o), ...scaleOptionsOf(o), log: progress });
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    if (o.json) {
      await io.stdout(toJson({ counts: output, order, vocabulary: summary.vocabulary, sentences: summary.sentences, words: summary.words, seconds, temp_peak_bytes: summary.tempPeakBytes, runs: summary.runs, merged_runs: summary.mergedRuns, stage_seconds: summary.stageSeconds }) + '\n');
    } else {
      io.log.info(`counted ${order}-grams of ${summary.words} words in ${summary.sentences} sentences (${summary.vocabulary} word types); wrote ${output} in ${seconds.toFixed(2)} s`);
    }
  },
};
