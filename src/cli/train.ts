import { KotobaError } from '../errors.js';
import { checkOrder } from '../ngram/estimate.js';
import { BackoffModel } from '../ngram/model.js';
import { pruneRelativeEntropy } from '../ngram/prune.js';
import { SMOOTHING_NAMES, type SmoothingName, type SmoothingOptions } from '../ngram/smoothing.js';
import { formatForPath, saveNgramModel } from '../node/ngram-files.js';
import { checkpointPathFor } from '../node/neural-loader.js';
import { countFileOrder, estimateNgramTables, trainNgramModel, type NgramFileOptions, type NgramJobSummary } from '../node/ngram-train.js';
import { NEURAL_KINDS } from '../neural/kinds.js';
import type { OptionSpecs, Parsed } from './args.js';
import { relaunchParentBytes, type EstimationJob } from './relaunch.js';
import { checkStdoutOutput, commonOptions, formatCount, lineOptions, lineOptionsOf, seedOption, textOptions, textOptionsOf, threadsOptions, toJson, vocabularyOptions, vocabularyOptionsOf, type Command, type CommandIO } from './common.js';
import { ngramProgress } from './ngram-progress.js';

/** The options of estimation at scale, shared by train and count (with --threads). */
export const scaleOptions: OptionSpecs = {
  memory: { type: 'string', short: 'S', value: 'SIZE', models: ['ngram'], description: 'memory for sorting n-grams, e.g. 500M, 4G, 60% (default 50%); beyond it, sorted runs go to --temp-dir' },
  'temp-dir': { type: 'string', short: 'T', value: 'DIR', models: ['ngram'], description: 'where the temporary runs go (default: the system temporary folder)' },
};

/** The estimation of n-gram commands that read `texts` (null: not text files; '-' is standard input). */
export function estimationOf(texts: readonly string[] | null, o: Parsed['options']): EstimationJob {
  const files = texts && texts.length > 0 && !texts.includes('-') ? texts : null;
  return { texts: files, order: typeof o.order === 'number' ? o.order : 3, memory: typeof o.memory === 'string' ? o.memory : undefined };
}

/** NgramFileOptions from the parsed scale options. */
export function scaleOptionsOf(o: Parsed['options']): Pick<NgramFileOptions, 'memory' | 'memoryElsewhere' | 'tempDir' | 'threads'> {
  const out: Pick<NgramFileOptions, 'memory' | 'memoryElsewhere' | 'tempDir' | 'threads'> = { memoryElsewhere: relaunchParentBytes() };
  if (typeof o.memory === 'string') out.memory = o.memory;
  if (typeof o['temp-dir'] === 'string') out.tempDir = o['temp-dir'];
  if (typeof o.threads === 'number') out.threads = o.threads;
  return out;
}

export const NEURAL_MODELS = NEURAL_KINDS;
const NGRAM = ['ngram'];
/** The models that read text as sequences (truncated backpropagation, or a Transformer's window). */
const SEQUENCE = ['rnn', 'gru', 'lstm', 'transformer'];
const HIDDEN_LAYER = ['ffnn', ...SEQUENCE];

/** The n-gram options that only one smoother reads. */
const SMOOTHER_OPTIONS: Record<string, SmoothingName> = { discount: 'abs', delta: 'add', lambda: 'jm', 'unk-vocab': 'jm' };

export const train: Command = {
  name: 'train',
  summary: 'train a language model from text (n-gram, or neural with --model)',
  usage: 'kotoba train [--order N] [--smoothing mkn|wb|abs|add|jm|mle] [vocabulary options] [--memory SIZE] -o MODEL [FILE…|-] | --from-counts COUNTS…',
  positionals: { names: ['FILE'], required: 0, repeats: true },
  examples: [
    'kotoba train --order 5 -o wiki.arpa corpus/wiki.train.txt',
    'kotoba train --order 3 --smoothing wb --prune 0 1 1 -o small.kblm corpus/wiki.train.txt',
    'kotoba train --order 5 --memory 2G --temp-dir /scratch -o big.arpa.gz part-*.txt.gz',
    'kotoba train --from-counts -o all.arpa part1.counts part2.counts',
    'kotoba train --model lstm --valid corpus/wiki.valid.txt -o lstm.safetensors corpus/wiki.train.txt',
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'MODEL', description: 'model file: .arpa, .arpa.gz or .kblm (n-gram; - writes ARPA text to standard output), .safetensors (neural)' },
    model: { type: 'string', value: 'KIND', description: `ngram (default), ${NEURAL_MODELS.join(', ')}` },
    order: { type: 'integer', short: 'n', min: 1, max: 255, models: ['ngram', 'loglinear', 'ffnn'], description: 'n-gram order, or history length of the log-linear and feed-forward models (default 3)' },
    smoothing: { type: 'string', short: 's', value: 'NAME', models: NGRAM, description: `n-gram smoothing: ${SMOOTHING_NAMES.join(', ')} (default mkn)` },
    discount: { type: 'number', value: 'D', min: 0, max: 1, models: NGRAM, description: 'absolute discounting: fixed discount (default n1/(n1+2·n2) per order)' },
    delta: { type: 'number', value: 'δ', above: 0, models: NGRAM, description: 'additive smoothing: δ (default 1, Laplace)' },
    lambda: { type: 'numbers', value: 'λ…', min: 0, max: 1, models: NGRAM, description: 'Jelinek-Mercer: λ per order, the last repeats (default 0.95)' },
    'unk-vocab': { type: 'integer', min: 1, models: NGRAM, description: "Jelinek-Mercer: vocabulary size for the unknown-word floor (1000000 in Neubig's tutorial)" },
    prune: { type: 'integers', value: 'T…', min: 0, models: NGRAM, description: 'count pruning per order, as lmplz: drop n-grams seen ≤ T times (e.g. 0 1 1)' },
    'prune-entropy': { type: 'number', value: 'θ', min: 0, models: NGRAM, description: 'relative-entropy pruning threshold after training (Stolcke; SRILM -prune)' },
    ...vocabularyOptions,
    'from-counts': { type: 'boolean', models: NGRAM, description: 'the inputs are count files (kotoba count): merge them, then estimate' },
    ...scaleOptions,
    ...textOptions,
    ...lineOptions,
    // Neural options (see docs): accepted here so that one command trains every family.
    hidden: { type: 'integer', min: 1, max: 2 ** 20, models: HIDDEN_LAYER, description: 'neural: hidden units (ffnn 256, rnn, gru and lstm 200); transformer: feed-forward width (200)' },
    embed: { type: 'integer', min: 1, max: 2 ** 20, models: HIDDEN_LAYER, description: 'neural: embedding size (ffnn 128; rnn, gru, lstm: --hidden; transformer: the model width, 200)' },
    layers: { type: 'integer', min: 1, max: 64, models: SEQUENCE, description: 'rnn, gru, lstm (at most 8), transformer (at most 64): layers (rnn 1, the others 2)' },
    dropout: { type: 'number', value: 'P', min: 0, below: 1, models: SEQUENCE, description: 'rnn, gru, lstm: dropout on non-recurrent connections (default 0); transformer: on the input, attention and sublayers (0.2)' },
    activation: { type: 'string', value: 'NAME', models: ['rnn', 'transformer'], description: 'rnn: tanh (default) or relu; transformer: relu (default) or gelu' },
    heads: { type: 'integer', min: 1, max: 1024, models: ['transformer'], description: 'transformer: attention heads (default 2)' },
    positions: { type: 'string', value: 'NAME', models: ['transformer'], description: 'transformer: sinusoidal (default) or learned position embeddings' },
    norm: { type: 'string', value: 'NAME', models: ['transformer'], description: "transformer: post (default, PyTorch's) or pre LayerNorm" },
    context: { type: 'string', value: 'C', models: NEURAL_MODELS, description: 'rnn, gru, lstm, transformer: sentence (default: each line on its own) or stream (the text as one sequence, </s> as the line break, in corpus order); recorded in the model' },
    classes: { type: 'integer', value: 'C', min: 0, models: HIDDEN_LAYER, description: 'neural: class-factorised softmax with C classes; 0 = full (default √V for rnn, ffnn; full for gru, lstm, transformer)' },
    bptt: { type: 'integer', min: 1, max: 65536, models: SEQUENCE, description: 'rnn, gru, lstm: truncated backpropagation length; transformer: the context window (default 35)' },
    batch: { type: 'integer', min: 1, max: 65536, models: NEURAL_MODELS, description: 'neural: minibatch size: streams for rnn, gru, lstm, transformer (20), examples for ffnn (256), loglinear (16)' },
    lr: { type: 'number', value: 'η', above: 0, models: NEURAL_MODELS, description: 'neural: learning rate on the mean loss (sgd: loglinear 3, ffnn 1, rnn 5, gru and lstm 20, transformer 5; adamw 1e-3; adagrad 0.01)' },
    epochs: { type: 'integer', min: 1, models: NEURAL_MODELS, description: 'neural: maximum epochs' },
    'max-epochs': { type: 'integer', min: 1, models: NEURAL_MODELS, description: 'neural: maximum epochs (same as --epochs)' },
    'max-time': { type: 'number', value: 'S', above: 0, models: NEURAL_MODELS, description: 'neural: stop after S seconds' },
    valid: { type: 'string', value: 'FILE', models: NEURAL_MODELS, description: 'neural: validation text' },
    resume: { type: 'boolean', models: NEURAL_MODELS, description: 'neural: continue from the checkpoint of MODEL' },
    l2: { type: 'number', value: 'λ', min: 0, models: NEURAL_MODELS, description: 'neural: weight decay λ (sgd, adagrad: λθ added to the gradient; adamw: decoupled, default 0.01; else 0)' },
    tied: { type: 'boolean', models: SEQUENCE, description: 'rnn, gru, lstm, transformer: tie input and output embeddings (rnn, gru, lstm: needs --embed = --hidden)' },
    direct: { type: 'boolean', models: ['ffnn'], description: 'ffnn: direct connections from the history to the output' },
    'dry-run': { type: 'boolean', models: NEURAL_MODELS, description: 'neural: one tiny step of each phase (for CI)' },
    clip: { type: 'number', min: 0, models: NEURAL_MODELS, description: 'neural: clip the gradient norm at this value (0: no clipping)' },
    'lr-decay': { type: 'number', value: 'ρ', min: 0, models: NEURAL_MODELS, description: 'neural: learning rate η/(1 + ρ·step) (the log-linear default)' },
    optimizer: { type: 'string', value: 'NAME', models: NEURAL_MODELS, description: 'neural: sgd (default), adamw (β 0.9, 0.999, ε 1e-8) or adagrad (ε 1e-10), as in torch.optim' },
    warmup: { type: 'integer', value: 'N', min: 0, models: NEURAL_MODELS, description: 'neural: raise the learning rate linearly over the first N steps' },
    schedule: { type: 'string', value: 'NAME', models: NEURAL_MODELS, description: 'neural: plateau (default: halve the rate when validation stalls, then stop) or cosine (decay to 0 over --epochs)' },
    'hash-size': { type: 'integer', min: 1, max: 2 ** 30, models: ['loglinear'], description: 'log-linear: weights per history position (dense when ≥ V·(V−1); default 2^22)' },
    'max-steps': { type: 'integer', min: 1, models: NEURAL_MODELS, description: 'neural: stop after N steps in total (then --resume continues)' },
    'checkpoint-every': { type: 'number', value: 'S', min: 0, models: NEURAL_MODELS, description: 'neural: seconds between checkpoints (default 300)' },
    report: { type: 'string', value: 'FILE.html', models: NEURAL_MODELS, description: 'neural: write an HTML chart of loss and validation perplexity per epoch' },
    seed: { ...seedOption.seed!, models: NEURAL_MODELS, description: 'neural: random seed of the initial weights and the shuffling (default 1)' },
    ...threadsOptions,
    ...commonOptions,
  },
  files: ({ positionals, options: o }) => {
    const neural = typeof o.model === 'string' && o.model !== 'ngram';
    // On --resume the training text defaults to the one recorded in the checkpoint.
    const texts = positionals.length > 0 ? positionals : [o.resume ? undefined : '-'];
    const as = o['from-counts'] ? 'a count file' : 'the training text';
    return {
      inputs: [...texts.map((path) => ({ path, as })), { path: o.vocab, as: '--vocab' }, { path: o.valid, as: '--valid' }],
      outputs: [
        { path: o.output, as: '-o' },
        ...(neural && typeof o.output === 'string' ? [{ path: checkpointPathFor(o.output), as: 'the checkpoint' }, { path: o.report, as: '--report' }] : []),
      ],
    };
  },
  estimation: ({ positionals, options: o }) => (typeof o.model === 'string' && o.model !== 'ngram' ? null : estimationOf(o['from-counts'] ? null : positionals, o)),
  async run(parsed, io) {
    const o = parsed.options;
    const model = typeof o.model === 'string' ? o.model : 'ngram';
    if (model !== 'ngram' && !(NEURAL_MODELS as readonly string[]).includes(model)) {
      throw new KotobaError(`unknown model kind '${model}'`, `use ngram, ${NEURAL_MODELS.join(', ')}`);
    }
    for (const [name, spec] of Object.entries(train.options)) {
      if (spec.models && o[name] !== undefined && !spec.models.includes(model)) {
        throw new KotobaError(`--${name} does not apply to ${model === 'ngram' ? 'n-gram models' : `the ${model} model`}`, `it is an option of --model ${spec.models.join(', ')}`);
      }
    }
    if (model !== 'ngram') {
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
  // Fail early on an unknown extension, before reading the corpus (main checked the folder).
  const format = formatForPath(output);
  checkStdoutOutput(output, o.json);
  const fromCounts = o['from-counts'] === true;
  const inputs = parsed.positionals.length > 0 ? parsed.positionals : fromCounts ? [] : ['-'];
  if (fromCounts && inputs.length === 0) throw new KotobaError('--from-counts needs count files', 'e.g. kotoba train --from-counts -o all.arpa part1.counts part2.counts');
  // A count file is read twice (its header's order and text options, then its rows): by name only.
  if (fromCounts && inputs.includes('-')) throw new KotobaError('--from-counts reads count files by name, not standard input', 'save the count file first: kotoba count -o part.counts …');
  if (fromCounts && (o.lowercase || typeof o.segment === 'string')) {
    throw new KotobaError('text options apply when counting, not to count files', 'give --lowercase/--segment to kotoba count');
  }
  const order = checkOrder(typeof o.order === 'number' ? o.order : fromCounts ? await countFileOrder(inputs[0]!) : 3);
  const smoothing = (typeof o.smoothing === 'string' ? o.smoothing : 'mkn') as SmoothingName;
  if (!(SMOOTHING_NAMES as readonly string[]).includes(smoothing)) {
    throw new KotobaError(`unknown smoothing '${smoothing}'`, `use one of ${SMOOTHING_NAMES.join(', ')}`);
  }
  for (const [name, smoother] of Object.entries(SMOOTHER_OPTIONS)) {
    if (o[name] !== undefined && smoothing !== smoother) throw new KotobaError(`--${name} does not apply to --smoothing ${smoothing}`, `it is an option of --smoothing ${smoother}`);
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
    ...lineOptionsOf(o),
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
  io.progress(`${summary.description}; n-grams per order: ${counts.join(' ')}; ${seconds.toFixed(2)} s`);
  await io.wrote(output, `order ${order}, ${formatCount(counts.reduce((a, b) => a + b, 0))} n-grams`);
  if (o.json) {
    await io.stdout(
      toJson({ model: output, order, smoothing, vocabulary: summary.vocabulary, ngrams: counts, sentences: summary.sentences, words: summary.words, seconds, temp_peak_bytes: summary.tempPeakBytes, runs: summary.runs, merged_runs: summary.mergedRuns, stage_seconds: summary.stageSeconds }) + '\n',
    );
  }
}
