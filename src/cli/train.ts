import { KotobaError } from '../errors.js';
import { checkOrder } from '../ngram/estimate.js';
import { BackoffModel } from '../ngram/model.js';
import { pruneRelativeEntropy } from '../ngram/prune.js';
import { SMOOTHING_NAMES, type SmoothingName, type SmoothingOptions } from '../ngram/smoothing.js';
import { formatForPath, saveNgramModel } from '../node/ngram-files.js';
import { checkWritable } from '../node/io.js';
import { countFileOrder, estimateNgramTables, trainNgramModel, type NgramFileOptions, type NgramJobSummary } from '../node/ngram-train.js';
import type { OptionSpecs, Parsed } from './args.js';
import { commonOptions, textOptions, textOptionsOf, toJson, vocabularyOptionsOf, type Command, type CommandIO } from './common.js';
import { ngramProgress } from './ngram-progress.js';

/** The options of estimation at scale, shared by train and count. */
export const scaleOptions: OptionSpecs = {
  memory: { type: 'string', short: 'S', value: 'SIZE', description: 'memory for sorting n-grams, e.g. 500M, 4G, 60% (default 50%); beyond it, sorted runs go to --temp-dir' },
  'temp-dir': { type: 'string', short: 'T', value: 'DIR', description: 'where the temporary runs go (default: the system temporary folder)' },
  threads: { type: 'integer', value: 'N', description: 'threads for reading, counting and sorting (default: all cores; 1: one at a time)' },
};

/** NgramFileOptions from the parsed scale options. */
export function scaleOptionsOf(o: Parsed['options']): Pick<NgramFileOptions, 'memory' | 'tempDir' | 'threads'> {
  const out: Pick<NgramFileOptions, 'memory' | 'tempDir' | 'threads'> = {};
  if (typeof o.memory === 'string') out.memory = o.memory;
  if (typeof o['temp-dir'] === 'string') out.tempDir = o['temp-dir'];
  if (typeof o.threads === 'number') out.threads = o.threads;
  return out;
}

export const NEURAL_MODELS = ['loglinear', 'ffnn', 'rnn', 'lstm'] as const;

export const train: Command = {
  name: 'train',
  summary: 'train a language model from text (n-gram, or neural with --model)',
  usage: 'kotoba train [--order N] [--smoothing mkn|wb|abs|add|jm|mle] [vocabulary options] [--memory SIZE] -o MODEL [FILE…|-] | --from-counts COUNTS…',
  examples: [
    'kotoba train --order 5 -o wiki.arpa corpus/wiki.train.txt',
    'kotoba train --order 3 --smoothing wb --prune 0 1 1 -o small.kblm corpus/wiki.train.txt',
    'kotoba train --order 5 --memory 2G --temp-dir /scratch -o big.arpa.gz part-*.txt.gz',
    'kotoba train --from-counts -o all.arpa part1.counts part2.counts',
    'kotoba train --model lstm --valid corpus/wiki.valid.txt -o lstm.safetensors corpus/wiki.train.txt',
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'MODEL', description: 'model file: .arpa, .arpa.gz or .kblm (n-gram), .safetensors (neural)' },
    model: { type: 'string', value: 'KIND', description: `ngram (default), ${NEURAL_MODELS.join(', ')}` },
    order: { type: 'integer', short: 'n', description: 'n-gram order, or history length of the log-linear and feed-forward models (default 3)' },
    smoothing: { type: 'string', short: 's', value: 'NAME', description: `n-gram smoothing: ${SMOOTHING_NAMES.join(', ')} (default mkn)` },
    discount: { type: 'number', value: 'D', description: 'absolute discounting: fixed discount (default n1/(n1+2·n2) per order)' },
    delta: { type: 'number', value: 'δ', description: 'additive smoothing: δ (default 1, Laplace)' },
    lambda: { type: 'numbers', value: 'λ…', description: 'Jelinek-Mercer: λ per order, the last repeats (default 0.95)' },
    'unk-vocab': { type: 'integer', description: 'Jelinek-Mercer: vocabulary size for the unknown-word floor (1000000 in Neubig\'s tutorial)' },
    prune: { type: 'numbers', value: 'T…', description: 'count pruning per order, as lmplz: drop n-grams seen ≤ T times (e.g. 0 1 1)' },
    'prune-entropy': { type: 'number', value: 'θ', description: 'relative-entropy pruning threshold after training (Stolcke; SRILM -prune)' },
    'min-count': { type: 'integer', description: 'words seen fewer times become <unk>' },
    'max-vocab': { type: 'integer', description: 'keep only the N most frequent words' },
    vocab: { type: 'string', value: 'FILE', description: 'fixed vocabulary: one word per line; others become <unk>' },
    'from-counts': { type: 'boolean', description: 'the inputs are count files (kotoba count): merge them, then estimate' },
    ...scaleOptions,
    ...textOptions,
    // Neural options (see docs): accepted here so that one command trains every family.
    hidden: { type: 'integer', description: 'neural: hidden units (ffnn 256, rnn and lstm 200)' },
    embed: { type: 'integer', description: 'neural: embedding size (ffnn 128; rnn, lstm: --hidden)' },
    layers: { type: 'integer', description: 'lstm: layers (default 2)' },
    dropout: { type: 'number', description: 'lstm: dropout probability on non-recurrent connections (default 0)' },
    classes: { type: 'integer', description: 'neural: class-factorised softmax with C classes; 0 = full (default √V for rnn, ffnn; full for lstm)' },
    bptt: { type: 'integer', description: 'rnn/lstm: truncated backpropagation length (default 35)' },
    batch: { type: 'integer', description: 'neural: minibatch size: streams for rnn/lstm (20), examples for ffnn (256), loglinear (16)' },
    lr: { type: 'number', description: 'neural: learning rate on the mean loss (loglinear 3, ffnn 1, rnn 5, lstm 20)' },
    epochs: { type: 'integer', description: 'neural: maximum epochs' },
    'max-epochs': { type: 'integer', description: 'neural: maximum epochs (same as --epochs)' },
    'max-time': { type: 'number', value: 'S', description: 'neural: stop after S seconds' },
    valid: { type: 'string', value: 'FILE', description: 'neural: validation text' },
    resume: { type: 'boolean', description: 'neural: continue from the checkpoint of MODEL' },
    l2: { type: 'number', description: 'neural: L2 regularisation (default 0)' },
    tied: { type: 'boolean', description: 'lstm: tie input and output embeddings' },
    direct: { type: 'boolean', description: 'ffnn: direct connections from the history to the output' },
    'dry-run': { type: 'boolean', description: 'neural: one tiny step of each phase (for CI)' },
    clip: { type: 'number', description: 'neural: clip the gradient norm at this value (0: no clipping)' },
    'lr-decay': { type: 'number', value: 'ρ', description: 'neural: learning rate η/(1 + ρ·step) (the log-linear default)' },
    'hash-size': { type: 'integer', description: 'log-linear: weights per history position (dense when ≥ V·(V−1); default 2^22)' },
    'max-steps': { type: 'integer', description: 'neural: stop after N steps in total (then --resume continues)' },
    'checkpoint-every': { type: 'number', value: 'S', description: 'neural: seconds between checkpoints (default 300)' },
    report: { type: 'string', value: 'FILE.html', description: 'neural: write an HTML chart of loss and validation perplexity per epoch' },
    ...commonOptions,
  },
  async run(parsed, io) {
    const o = parsed.options;
    const model = typeof o.model === 'string' ? o.model : 'ngram';
    if (model !== 'ngram') {
      if (!(NEURAL_MODELS as readonly string[]).includes(model)) {
        throw new KotobaError(`unknown model kind '${model}'`, `use ngram, ${NEURAL_MODELS.join(', ')}`);
      }
      const { trainNeural } = await import('./train-neural.js');
      return trainNeural(parsed, io);
    }
    return trainNgram(parsed, io);
  },
};

async function trainNgram(parsed: Parsed, io: CommandIO): Promise<void> {
  const o = parsed.options;
  const output = o.output;
  if (typeof output !== 'string') throw new KotobaError('no output model given', 'pass -o MODEL.arpa (or .arpa.gz, .kblm)');
  // Fail early on an unknown extension or an unwritable folder, before reading the corpus.
  const format = formatForPath(output);
  await checkWritable(output);
  const fromCounts = o['from-counts'] === true;
  const inputs = parsed.positionals.length > 0 ? parsed.positionals : fromCounts ? [] : ['-'];
  if (fromCounts && inputs.length === 0) throw new KotobaError('--from-counts needs count files', 'e.g. kotoba train --from-counts -o all.arpa part1.counts part2.counts');
  if (fromCounts && (o.lowercase || typeof o.segment === 'string')) {
    throw new KotobaError('text options apply when counting, not to count files', 'give --lowercase/--segment to kotoba count');
  }
  const order = checkOrder(typeof o.order === 'number' ? o.order : fromCounts ? await countFileOrder(inputs[0]!) : 3);
  const smoothing = (typeof o.smoothing === 'string' ? o.smoothing : 'mkn') as SmoothingName;
  if (!(SMOOTHING_NAMES as readonly string[]).includes(smoothing)) {
    throw new KotobaError(`unknown smoothing '${smoothing}'`, `use one of ${SMOOTHING_NAMES.join(', ')}`);
  }
  const smoothingOptions: SmoothingOptions = {};
  if (typeof o.discount === 'number') smoothingOptions.discount = o.discount;
  if (typeof o.delta === 'number') smoothingOptions.delta = o.delta;
  if (Array.isArray(o.lambda)) smoothingOptions.lambda = o.lambda;
  if (typeof o['unk-vocab'] === 'number') smoothingOptions.vocabularySize = o['unk-vocab'];

  const started = performance.now();
  const progress = ngramProgress(io);
  const vocabulary = await vocabularyOptionsOf(o);
  const options: NgramFileOptions = {
    order,
    smoothing,
    smoothingOptions,
    ...(Array.isArray(o.prune) ? { prune: o.prune } : {}),
    ...textOptionsOf(o),
    ...(vocabulary.minCount !== undefined ? { minCount: vocabulary.minCount } : {}),
    ...(vocabulary.maxSize !== undefined ? { maxSize: vocabulary.maxSize } : {}),
    ...(vocabulary.fixed !== undefined ? { fixed: vocabulary.fixed } : {}),
    ...scaleOptionsOf(o),
    log: progress,
  };
  const sources = fromCounts ? { counts: inputs } : { text: inputs };
  io.progress(`reading ${inputs.map((f) => (f === '-' ? 'standard input' : f)).join(', ')}`);
  let summary: NgramJobSummary;
  if (typeof o['prune-entropy'] === 'number' || format === 'binary') {
    // The model is built in memory at the end: pruning and the binary format need all of it.
    const tables = await estimateNgramTables(sources, options);
    summary = tables.summary;
    let model = BackoffModel.fromTables(tables);
    if (typeof o['prune-entropy'] === 'number') {
      io.progress(`relative-entropy pruning at θ=${o['prune-entropy']}`);
      model = pruneRelativeEntropy(model, o['prune-entropy']);
      summary = { ...summary, counts: model.counts, description: model.description };
    }
    io.progress(`writing ${output}`);
    await saveNgramModel(output, model);
  } else {
    summary = await trainNgramModel(output, sources, options);
  }
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  const counts = summary.counts;
  if (o.json) {
    await io.stdout(
      toJson({ model: output, order, smoothing, vocabulary: summary.vocabulary, ngrams: counts, sentences: summary.sentences, words: summary.words, seconds, temp_peak_bytes: summary.tempPeakBytes, runs: summary.runs, merged_runs: summary.mergedRuns, stage_seconds: summary.stageSeconds }) + '\n',
    );
  } else {
    io.log.info(`${summary.description}; n-grams per order: ${counts.join(' ')}; wrote ${output} in ${seconds.toFixed(2)} s`);
  }
}
