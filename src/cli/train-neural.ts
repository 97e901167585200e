/**
 * `kotoba train --model loglinear|ffnn|rnn|gru|lstm|transformer`: reads the corpus, builds (or, with --resume,
 * reopens) the model, runs the training loop with progress on stderr, checkpoints every few
 * minutes and on Ctrl-C, and writes the model as safetensors (with --report, an HTML chart too).
 */
import { KotobaError } from '../errors.js';
import { buildModel, countIds, orderFor, resolveConfig, type ArchitectureOptions } from '../neural/build.js';
import type { NeuralKind, NeuralModel, TrainShape } from '../neural/model.js';
import { loadWeights } from '../neural/model-file.js';
import { Random } from '../util/random.js';
import { trainingReport } from '../neural/report.js';
import { ADAMW_WEIGHT_DECAY, OPTIMIZERS, type OptimizerName } from '../neural/optim.js';
import { prefixTokens, Trainer, type EpochRecord, type Progress, type ResumeData, type TrainerOptions } from '../neural/trainer.js';
import { readCorpus } from '../node/corpus-files.js';
import { writeFileAtomic } from '../node/io.js';
import { checkpointPathFor, NEURAL_EXTENSION, readNeuralModelFile, saveNeuralModel } from '../node/neural-files.js';
import type { Corpus } from '../text/corpus.js';
import type { Parsed } from './args.js';
import { formatCount, lineOptionsOf, textOptionsFor, textOptionsOf, threadsOf, toJson, vocabularyOptionsOf, type CommandIO } from './common.js';
import { promises as fsp } from 'node:fs';

/** Training defaults per family (architecture defaults are in resolveConfig). */
export interface TrainingDefaults {
  optimizer: OptimizerName;
  batch: number;
  bptt: number;
  lr: number;
  clip: number;
  epochs: number;
  lrDecay: number;
  l2: number;
}

export const TRAINING_DEFAULTS: Record<NeuralKind, TrainingDefaults> = {
  // The lecture's log-linear model: SGD with η_t = η₀/(1 + ρt).
  // lr 3 measured best on PTB (1: validation 248 after 3 epochs, 3: 204, 10: 207, 30: 333).
  loglinear: { optimizer: 'sgd', batch: 16, bptt: 1, lr: 3, clip: 0, epochs: 20, lrDecay: 1e-5, l2: 0 },
  // Large minibatches: the class-softmax output matrix is updated densely once per step.
  ffnn: { optimizer: 'sgd', batch: 256, bptt: 1, lr: 1, clip: 5, epochs: 30, lrDecay: 0, l2: 0 },
  // Minibatches of parallel streams; the loss is the mean per token, so the learning rates are
  // those of PyTorch's word_language_model (Zaremba et al.'s lr 1 on the loss summed over 20
  // steps); the tanh RNN is unstable above about 5 (measured on PTB).
  rnn: { optimizer: 'sgd', batch: 20, bptt: 35, lr: 5, clip: 0.25, epochs: 30, lrDecay: 0, l2: 0 },
  gru: { optimizer: 'sgd', batch: 20, bptt: 35, lr: 20, clip: 0.25, epochs: 40, lrDecay: 0, l2: 0 },
  lstm: { optimizer: 'sgd', batch: 20, bptt: 35, lr: 20, clip: 0.25, epochs: 40, lrDecay: 0, l2: 0 },
  // PyTorch's example trains its Transformer with SGD too, at lr 5 (its README's command).
  transformer: { optimizer: 'sgd', batch: 20, bptt: 35, lr: 5, clip: 0.25, epochs: 40, lrDecay: 0, l2: 0 },
};

/** Learning rates when --optimizer is not the family's own: torch.optim's defaults (SGD: the family's). */
const OPTIMIZER_LR: Record<OptimizerName, number> = { sgd: 1, adamw: 1e-3, adagrad: 1e-2 };

/** Options recorded in the model file and restored by --resume. */
interface RunOptions {
  kind: NeuralKind;
  shape: TrainShape;
  /** Absent in files from before AdamW and Adagrad: SGD. */
  optimizer?: OptimizerName;
  trainer: TrainerOptions;
  train: string;
  valid: string | null;
  text: Record<string, unknown>;
}

/** Families trained on streams cut into chunks of --bptt steps. */
const isSequenceModel = (kind: NeuralKind): boolean => kind === 'rnn' || kind === 'gru' || kind === 'lstm' || kind === 'transformer';

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function architectureOf(o: Parsed['options']): ArchitectureOptions {
  const a: ArchitectureOptions = {};
  if (num(o.order) !== undefined) a.order = num(o.order)!;
  if (num(o.embed) !== undefined) a.embed = num(o.embed)!;
  if (num(o.hidden) !== undefined) a.hidden = num(o.hidden)!;
  if (num(o.layers) !== undefined) a.layers = num(o.layers)!;
  if (num(o.dropout) !== undefined) a.dropout = num(o.dropout)!;
  if (num(o.classes) !== undefined) a.classes = num(o.classes)!;
  if (num(o['hash-size']) !== undefined) a.hashSize = num(o['hash-size'])!;
  if (typeof o.activation === 'string') a.activation = o.activation;
  if (typeof o.context === 'string') a.context = o.context;
  if (num(o.heads) !== undefined) a.heads = num(o.heads)!;
  if (typeof o.positions === 'string') a.positions = o.positions;
  if (typeof o.norm === 'string') a.norm = o.norm;
  if (o.tied) a.tied = true;
  if (o.direct) a.direct = true;
  return a;
}

const fmtTime = (s: number): string => {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
};

const kilo = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));

/** The progress line: where, how fast, how well, how long. */
export function progressLine(p: Progress): string {
  const pct = p.steps > 0 ? ((100 * p.step) / p.steps).toFixed(0) : '0';
  return `epoch ${p.epoch}/${p.epochs} ${pct.padStart(3)}% | ${kilo(p.tokensPerSecond)} tokens/s | loss ${p.loss.toFixed(3)} nats (ppl ${p.perplexity.toFixed(1)}) | lr ${p.lr.toPrecision(3)} | ETA ${fmtTime(p.eta)}`;
}

export function epochLine(r: EpochRecord): string {
  const valid = r.validPerplexity === null ? '' : `, valid loss ${r.validLoss!.toFixed(3)} (ppl ${r.validPerplexity.toFixed(2)})`;
  return `epoch ${r.epoch}${r.partial ? ' (partial)' : ''}: train loss ${r.trainLoss.toFixed(3)} nats (ppl ${r.trainPerplexity.toFixed(2)})${valid}, lr ${r.lr.toPrecision(3)}, ${kilo(r.tokensPerSecond)} tokens/s, ${fmtTime(r.seconds)}`;
}

export async function trainNeural(parsed: Parsed, io: CommandIO): Promise<void> {
  const o = parsed.options;
  const kind = o.model as NeuralKind;
  const output = o.output;
  if (typeof output !== 'string') throw new KotobaError('no output model given', `pass -o MODEL${NEURAL_EXTENSION}`);
  if (!output.endsWith(NEURAL_EXTENSION)) throw new KotobaError(`neural models are written as safetensors: ${output} should end in ${NEURAL_EXTENSION}`, `e.g. -o ${kind}${NEURAL_EXTENSION}`);
  const ckptPath = checkpointPathFor(output);
  const dryRun = Boolean(o['dry-run']);
  const threads = threadsOf(o);
  const started = performance.now();

  // ---- the model and its training options: new, or from the checkpoint --------------------
  let model: NeuralModel<unknown>;
  let run: RunOptions;
  let resume: ResumeData | undefined;
  let train: Corpus;
  if (o.resume) {
    const c = await readNeuralModelFile(ckptPath).catch((e: unknown) => {
      if (e instanceof KotobaError && /no such file/.test(e.message)) {
        throw new KotobaError(`nothing to resume: no checkpoint ${ckptPath}`, 'train without --resume first (a checkpoint is written every few minutes and on Ctrl-C)');
      }
      throw e;
    });
    if (!c.checkpoint) throw new KotobaError(`${ckptPath} has no training state`, 'it is a model, not a checkpoint; train without --resume');
    run = c.training.run as RunOptions;
    if (!run || run.kind !== c.config.kind) throw new KotobaError(`${ckptPath}: the checkpoint has no usable training options`, 'train again without --resume');
    if (run.kind !== kind) throw new KotobaError(`the checkpoint is of a ${run.kind} model, not ${kind}`, `use --model ${run.kind}`);
    const ignored = ['order', 'embed', 'hidden', 'layers', 'dropout', 'classes', 'hash-size', 'tied', 'direct', 'activation', 'batch', 'bptt', 'seed', 'min-count', 'max-vocab', 'vocab', 'clip', 'l2', 'lr-decay', 'optimizer', 'warmup', 'schedule', 'context', 'heads', 'positions', 'norm'].filter((n) => o[n] !== undefined);
    if (ignored.length) io.log.warn(`--resume keeps the checkpoint's settings; ignoring ${ignored.map((n) => `--${n}`).join(' ')}`);
    // What may change on resume: how long to go on, and (breaking exact reproduction) the rate.
    const epochs = num(o.epochs) ?? num(o['max-epochs']);
    if (epochs !== undefined) run.trainer.epochs = epochs;
    // --max-time is this run's budget: a resumed run has none unless given one.
    delete run.trainer.maxTime;
    if (num(o['max-time']) !== undefined) run.trainer.maxTime = num(o['max-time'])!;
    if (num(o['max-steps']) !== undefined) run.trainer.maxSteps = num(o['max-steps'])!;
    if (num(o['checkpoint-every']) !== undefined) run.trainer.checkpointEvery = num(o['checkpoint-every'])!;
    const input = parsed.positionals[0] ?? run.train;
    io.progress(`resuming from ${ckptPath}: epoch ${c.checkpoint.state.epoch + 1}, step ${c.checkpoint.state.step}`);
    const text = textOptionsFor({ text: c.text ?? textOptionsOf(run.text as Parsed['options']) }, o, ckptPath);
    train = await readCorpus(input, { ...text, ...lineOptionsOf(o), vocab: c.vocab });
    model = await buildModel(c.config, c.vocab, c.order, { shape: run.shape, optimizer: run.optimizer ?? 'sgd', threads });
    loadWeights(model, c.weights, ckptPath);
    resume = { state: c.checkpoint.state, best: c.checkpoint.best, carried: c.checkpoint.carried, optimizer: c.checkpoint.optimizer ?? null, from: ckptPath };
    if (num(o.lr) !== undefined) {
      io.log.warn('--lr on --resume changes the schedule: the result will differ from an uninterrupted run');
      resume.state.lr = num(o.lr)!;
    }
    if (o.valid !== undefined) run.valid = String(o.valid);
  } else {
    const d = TRAINING_DEFAULTS[kind];
    const optimizer = (typeof o.optimizer === 'string' ? o.optimizer : d.optimizer) as OptimizerName;
    if (!(OPTIMIZERS as readonly string[]).includes(optimizer)) throw new KotobaError(`unknown optimizer '${optimizer}'`, `use ${OPTIMIZERS.join(', ')}`);
    const schedule = typeof o.schedule === 'string' ? o.schedule : 'plateau';
    if (schedule !== 'plateau' && schedule !== 'cosine') throw new KotobaError(`unknown schedule '${schedule}'`, 'use plateau or cosine');
    const input = parsed.positionals[0] ?? '-';
    const text = { ...textOptionsOf(o), ...(await vocabularyOptionsOf(o)) };
    // The options' ranges are checked by the parser (see the option table in train.ts).
    const trainer: TrainerOptions = {
      epochs: num(o['max-epochs']) ?? num(o.epochs) ?? (dryRun ? 1 : d.epochs),
      lr: num(o.lr) ?? (optimizer === d.optimizer ? d.lr : OPTIMIZER_LR[optimizer]),
      lrDecay: num(o['lr-decay']) ?? d.lrDecay,
      clip: num(o.clip) ?? d.clip,
      l2: num(o.l2) ?? (optimizer === 'adamw' ? ADAMW_WEIGHT_DECAY : d.l2),
      warmup: num(o.warmup) ?? 0,
      schedule,
      seed: num(o.seed) ?? 1,
      checkpointEvery: num(o['checkpoint-every']) ?? 300,
    };
    if (num(o['max-time']) !== undefined) trainer.maxTime = num(o['max-time'])!;
    if (num(o['max-steps']) !== undefined) trainer.maxSteps = num(o['max-steps'])!;
    if (dryRun) trainer.maxSteps = 2;
    const recurrent = isSequenceModel(kind);
    const shape: TrainShape = { batch: num(o.batch) ?? d.batch, bptt: recurrent ? (num(o.bptt) ?? d.bptt) : 1 };
    const { fixed, ...rest } = text;
    run = { kind, shape, optimizer, trainer, train: input, valid: typeof o.valid === 'string' ? o.valid : null, text: rest };
    io.progress(`reading ${input === '-' ? 'standard input' : input}`);
    train = await readCorpus(input, { ...text, ...lineOptionsOf(o) });
    if (train.words === 0) throw new KotobaError(`${input}: the corpus has no words`, 'give a text file with one sentence per line');
    if (fixed) (run.text as Record<string, unknown>).vocabFile = String(o.vocab);
    const arch = architectureOf(o);
    if (kind === 'transformer') arch.window = shape.bptt; // the training window is the context window
    const config = resolveConfig(kind, arch, train.vocab.size);
    const counts = countIds(train.tokens, train.vocab.size);
    model = await buildModel(config, train.vocab, orderFor(config, counts), { shape, optimizer, threads });
    model.initialize(new Random(trainer.seed, 0), counts);
  }
  model.text = train.text; // stored in the checkpoints and the model file

  let valid: Corpus | null = null;
  if (run.valid) {
    io.progress(`reading ${run.valid}`);
    valid = await readCorpus(run.valid, { ...model.text, ...lineOptionsOf(o), vocab: model.vocab });
  } else if (!o.resume) {
    io.log.warn('no --valid text: training runs for the given epochs with no validation, best-model selection or annealing');
  }
  let trainTokens = train.tokens;
  let validTokens = valid ? valid.tokens : null;
  if (dryRun) {
    trainTokens = prefixTokens(trainTokens, run.shape.batch * (run.shape.bptt + 1) * 3);
    if (validTokens) validTokens = prefixTokens(validTokens, 200);
  }
  io.progress(`${model.description}; ${model.params.size.toLocaleString('en-US')} parameters; kernels ${model.kernels.backend} on ${model.kernels.threads} thread${model.kernels.threads > 1 ? 's' : ''}`);
  io.progress(`training on ${train.words.toLocaleString('en-US')} words in ${train.sentences.toLocaleString('en-US')} sentences; batch ${run.shape.batch}${isSequenceModel(run.kind) ? `, BPTT ${run.shape.bptt}` : ''}, lr ${run.trainer.lr}, seed ${run.trainer.seed}`);

  // ---- the loop ---------------------------------------------------------------------------
  const trainingMeta = (): Record<string, unknown> => ({
    run,
    data: { train: run.train, words: train.words, sentences: train.sentences, valid: run.valid, validWords: valid?.words ?? null },
    kernels: model.kernels.backend,
    threads: model.kernels.threads,
    kotoba: '0.1.0',
  });
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    io.log.warn('interrupted: writing a checkpoint (press Ctrl-C again to quit at once)');
  };
  process.once('SIGINT', onSigint);
  let overwrite = false; // TTY progress: overwrite the previous progress line in place
  const tty = process.stderr.isTTY === true;
  let lastLogged = -Infinity;
  const trainer = new Trainer(
    model,
    trainTokens,
    validTokens,
    run.trainer,
    {
      progress: (p) => {
        // A terminal gets one line updated in place every second; a log (--verbose) a line every 30 s.
        const now = performance.now();
        if (!tty && now - lastLogged < 30000) return;
        lastLogged = now;
        io.progress((overwrite && tty ? '\x1b[1A\x1b[2K' : '') + progressLine(p));
        overwrite = true;
      },
      epoch: (r) => {
        if (overwrite && tty) io.progress('\x1b[1A\x1b[2K' + epochLine(r));
        else io.log.info(epochLine(r));
        overwrite = false;
      },
      checkpoint: async (c) => {
        io.progress(`writing checkpoint ${ckptPath}`);
        overwrite = false;
        await saveNeuralModel(ckptPath, model, { history: c.state.history, training: trainingMeta(), checkpoint: { state: c.state, best: c.best, carried: c.carried, optimizer: c.optimizer } });
        return ckptPath;
      },
      shouldStop: () => interrupted,
    },
    resume,
  );
  let result;
  try {
    result = await trainer.run();
  } finally {
    process.removeListener('SIGINT', onSigint);
  }

  // ---- the model file, the report, the summary ------------------------------------------------
  const history = result.state.history;
  await saveNeuralModel(output, model, { history, training: trainingMeta() });
  await io.wrote(output, `${model.description}, ${formatCount(model.params.size)} weights`);
  if (result.reason === 'epochs' || result.reason === 'converged' || dryRun) {
    await fsp.rm(ckptPath, { force: true }); // finished (or a dry run): the checkpoint is stale
  } else if (result.checkpoint) {
    await io.wrote(result.checkpoint, `checkpoint at epoch ${result.state.epoch + 1}, step ${result.state.step}`);
  }
  if (typeof o.report === 'string') {
    const notes = [
      `${model.description}; ${model.params.size.toLocaleString('en-US')} parameters.`,
      `Trained on ${run.train} (${train.words.toLocaleString('en-US')} words)${run.valid ? `, validated on ${run.valid}` : ''}; batch ${run.shape.batch}, lr ${run.trainer.lr}, seed ${run.trainer.seed}; stopped: ${result.reason}.`,
      model.context === 'stream'
        ? 'Perplexity counts </s> and not <s>, in stream context: each line predicted from the state the line before left.'
        : 'Perplexity counts </s> and not <s>, each line scored as its own sentence, as for the n-gram models.',
    ];
    await writeFileAtomic(o.report, trainingReport(`kotoba train --model ${run.kind}`, history, notes));
    await io.wrote(o.report, 'training report');
  }
  const seconds = (performance.now() - started) / 1000;
  const summary = {
    model: output,
    kind: run.kind,
    description: model.description,
    parameters: model.params.size,
    epochs: history.filter((r) => !r.partial).length,
    steps: result.state.globalStep,
    stopped: result.reason,
    valid_perplexity: result.validPerplexity,
    best_epoch: result.state.bestEpoch > 0 ? result.state.bestEpoch : null,
    checkpoint: result.reason === 'epochs' || result.reason === 'converged' || dryRun ? null : result.checkpoint,
    seconds,
    kernels: model.kernels.backend,
    threads: model.kernels.threads,
  };
  if (o.json) await io.stdout(toJson(summary) + '\n');
  else {
    const v = result.validPerplexity === null ? '' : `, validation perplexity ${result.validPerplexity.toFixed(2)}`;
    io.log.info(`${model.description}: ${summary.epochs} epochs${v}; stopped: ${result.reason}; ${fmtTime(seconds)}`);
  }
  if (result.reason === 'interrupted') {
    throw new KotobaError(
      `interrupted at epoch ${result.state.epoch + 1}, step ${result.state.step}: wrote the checkpoint ${ckptPath} and the model so far to ${output}`,
      'run the same command with --resume to continue',
    );
  }
  if ((result.reason === 'time' || result.reason === 'steps') && !dryRun) {
    io.log.info(`stopped by --max-${result.reason}; continue with --resume (checkpoint ${ckptPath})`);
  }
}
