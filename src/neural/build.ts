/**
 * Building a neural model: defaults and checks for each family's configuration, the output order
 * from training counts, and the two-pass construction (size the model, create kernels with exactly
 * that memory, build it for real).
 */
import { KotobaError } from '../errors.js';
import type { Vocabulary } from '../text/vocabulary.js';
import { createKernels, createJsKernels, floatsFor } from './kernels/index.js';
import type { KernelBackend, Kernels } from './kernels/types.js';
import { FeedForwardModel } from './ffnn.js';
import { DEFAULT_HASH_SIZE, LogLinearModel } from './loglinear.js';
import { NO_KERNELS, NEURAL_KINDS, type NeuralConfig, type NeuralKind, type NeuralModel, type TrainShape } from './model.js';
import { Optimizer, optimizerStateFloats, type OptimizerName } from './optim.js';
import { outputOrder, type OutputOrder } from './output.js';
import { Sizer, type Allocator } from './params.js';
import { StackedRecurrentModel } from './stacked.js';
import { TransformerModel } from './transformer.js';

/** Architecture options as a user gives them (absent: the family's default). */
export interface ArchitectureOptions {
  order?: number;
  embed?: number;
  hidden?: number;
  layers?: number;
  dropout?: number;
  /** Classes of the class-factorised softmax; 0 = full softmax. */
  classes?: number;
  tied?: boolean;
  direct?: boolean;
  hashSize?: number;
  /** rnn: tanh (default) or relu. */
  activation?: string;
  /** rnn, gru, lstm, transformer: 'sentence' (default) or 'stream' (see Context). */
  context?: string;
  /** transformer: attention heads. */
  heads?: number;
  /** transformer: the context window (the CLI's --bptt). */
  window?: number;
  /** transformer: sinusoidal (default) or learned. */
  positions?: string;
  /** transformer: post (default) or pre. */
  norm?: string;
}

/** Default classes: about √V, as Mikolov recommends (100 for PTB's 10k words); none for small vocabularies. */
export function defaultClasses(V: number): number {
  return V - 1 >= 2000 ? Math.round(Math.sqrt(V - 1)) : 0;
}

/**
 * A complete configuration for a family, with defaults filled in and every value checked.
 *
 * @example
 * ```ts
 * // runs
 * import { resolveConfig } from 'kotoba';
 * const config = resolveConfig('rnn', { hidden: 200 }, 10_000); // a 10k-word vocabulary
 * if (config.classes !== 100 || config.embed !== 200) throw new Error('100 classes (about √V); embed defaults to hidden');
 * ```
 */
export function resolveConfig(kind: NeuralKind, o: ArchitectureOptions, vocabSize: number): NeuralConfig {
  if (!(NEURAL_KINDS as readonly string[]).includes(kind)) {
    throw new KotobaError(`unknown neural model '${kind}'`, `use one of ${NEURAL_KINDS.join(', ')}`);
  }
  const positive = (name: string, v: number | undefined, fallback: number, max = 1 << 20): number => {
    const x = v ?? fallback;
    if (!Number.isInteger(x) || x < 1 || x > max) throw new KotobaError(`--${name} must be a whole number from 1 to ${max}, got ${x}`);
    return x;
  };
  const unused = (name: string, present: unknown, why: string) => {
    if (present !== undefined && present !== false) throw new KotobaError(`--${name} does not apply to the ${kind} model`, why);
  };
  const classes = o.classes ?? (kind === 'rnn' || kind === 'ffnn' ? defaultClasses(vocabSize) : 0);
  if (!Number.isInteger(classes) || classes < 0) throw new KotobaError(`--classes must be 0 (full softmax) or a positive whole number, got ${classes}`);
  const c: NeuralConfig = { kind, vocabSize, classes: Math.min(classes, vocabSize - 1) };
  const context = o.context ?? 'sentence';
  if (context !== 'sentence' && context !== 'stream') throw new KotobaError(`unknown --context '${context}'`, 'use sentence or stream');
  if (context === 'stream' && (kind === 'loglinear' || kind === 'ffnn')) {
    throw new KotobaError(`--context stream does not apply to the ${kind} model`, 'it predicts from the words before it in the line; use rnn, gru, lstm or transformer');
  }
  const transformerOnly = [['heads', o.heads], ['positions', o.positions], ['norm', o.norm]] as const;
  if (kind !== 'transformer') for (const [n, v] of transformerOnly) unused(n, v, 'it applies to the transformer model');
  const oneOf = <const T extends string>(name: string, v: string | undefined, fallback: T, allowed: readonly T[]): T => {
    const x = v ?? fallback;
    if (!(allowed as readonly string[]).includes(x)) throw new KotobaError(`unknown --${name} '${x}' for the ${kind} model`, `use ${allowed.join(' or ')}`);
    return x as T;
  };
  switch (kind) {
    case 'loglinear': {
      c.order = positive('order', o.order, 3, 16);
      const dense = vocabSize * (vocabSize - 1);
      c.hashSize = o.hashSize ?? Math.min(dense, DEFAULT_HASH_SIZE);
      if (!Number.isInteger(c.hashSize) || c.hashSize < vocabSize) throw new KotobaError(`--hash-size must be at least the vocabulary size (${vocabSize}), got ${c.hashSize}`);
      c.hashSize = Math.min(c.hashSize, dense);
      if (c.classes > 0) throw new KotobaError('the log-linear model has a full softmax only', 'drop --classes');
      for (const [n, v] of [['embed', o.embed], ['hidden', o.hidden], ['layers', o.layers], ['dropout', o.dropout], ['tied', o.tied], ['direct', o.direct], ['activation', o.activation]] as const) {
        unused(n, v, 'the log-linear model has no hidden layer');
      }
      break;
    }
    case 'ffnn':
      c.order = positive('order', o.order, 5, 16);
      c.embed = positive('embed', o.embed, 128);
      c.hidden = positive('hidden', o.hidden, 256);
      c.direct = Boolean(o.direct);
      for (const [n, v] of [['layers', o.layers], ['dropout', o.dropout], ['tied', o.tied], ['hash-size', o.hashSize], ['activation', o.activation]] as const) unused(n, v, 'see kotoba train --help');
      break;
    case 'rnn':
    case 'gru':
    case 'lstm':
      // Mikolov's RNN is one layer; PyTorch's example stacks two of every cell.
      c.hidden = positive('hidden', o.hidden, 200);
      c.embed = positive('embed', o.embed, c.hidden);
      c.layers = positive('layers', o.layers, kind === 'rnn' ? 1 : 2, 8);
      c.dropout = o.dropout ?? 0;
      if (!(c.dropout >= 0 && c.dropout < 1)) throw new KotobaError(`--dropout must be in [0, 1), got ${c.dropout}`);
      c.tied = Boolean(o.tied);
      if (c.tied && c.embed !== c.hidden) throw new KotobaError(`--tied needs --embed equal to --hidden (got ${c.embed} and ${c.hidden})`);
      if (kind === 'rnn') {
        if (oneOf('activation', o.activation, 'tanh', ['tanh', 'relu']) === 'relu') c.activation = 'relu';
      } else unused('activation', o.activation, 'the rnn model has tanh or relu; gru and lstm have their gates');
      c.context = context;
      for (const [n, v] of [['order', o.order], ['direct', o.direct], ['hash-size', o.hashSize]] as const) unused(n, v, 'see kotoba train --help');
      break;
    case 'transformer':
      // PyTorch's word_language_model defaults: emsize 200, nhid 200, 2 layers, 2 heads, bptt 35, dropout 0.2.
      c.embed = positive('embed', o.embed, 200);
      c.hidden = positive('hidden', o.hidden, 200);
      c.layers = positive('layers', o.layers, 2, 64);
      c.heads = positive('heads', o.heads, 2, c.embed);
      if (c.embed % c.heads !== 0) throw new KotobaError(`--embed ${c.embed} is not divisible by --heads ${c.heads}`, 'each head takes embed/heads columns');
      c.window = positive('bptt', o.window, 35, 4096);
      if (c.window < 2) throw new KotobaError('the transformer window (--bptt) must be at least 2');
      c.dropout = o.dropout ?? 0.2;
      if (!(c.dropout >= 0 && c.dropout < 1)) throw new KotobaError(`--dropout must be in [0, 1), got ${c.dropout}`);
      c.tied = Boolean(o.tied);
      c.activation = oneOf('activation', o.activation, 'relu', ['relu', 'gelu']);
      c.positions = oneOf('positions', o.positions, 'sinusoidal', ['sinusoidal', 'learned']);
      c.norm = oneOf('norm', o.norm, 'post', ['post', 'pre']);
      c.context = context;
      for (const [n, v] of [['order', o.order], ['direct', o.direct], ['hash-size', o.hashSize]] as const) unused(n, v, 'see kotoba train --help');
      break;
  }
  return c;
}

/** Training counts per vocabulary id (the output order bins words by them). */
export function countIds(tokens: Uint32Array, V: number): Float64Array {
  const counts = new Float64Array(V);
  for (let i = 0; i < tokens.length; i++) counts[tokens[i]!]++;
  return counts;
}

/** The output order of a configuration, from training counts. */
export function orderFor(config: NeuralConfig, counts: ArrayLike<number>): OutputOrder {
  return outputOrder(counts, config.classes);
}

function construct(k: Kernels, mem: Allocator, config: NeuralConfig, vocab: Vocabulary, order: OutputOrder, shape: TrainShape | null): NeuralModel<unknown> {
  const batch = shape?.batch ?? 0;
  switch (config.kind) {
    case 'loglinear':
      return new LogLinearModel(k, vocab, config, order, mem, batch) as NeuralModel<unknown>;
    case 'ffnn':
      return new FeedForwardModel(k, vocab, config, order, mem, batch) as NeuralModel<unknown>;
    case 'rnn':
    case 'gru':
    case 'lstm':
      return new StackedRecurrentModel(k, vocab, config, order, mem, shape) as NeuralModel<unknown>;
    case 'transformer':
      return new TransformerModel(k, vocab, config, order, mem, shape) as NeuralModel<unknown>;
  }
}

/** Float32 slots a model of this configuration needs (parameters, gradients, work buffers, optimizer state). */
export function modelFloats(config: NeuralConfig, vocab: Vocabulary, order: OutputOrder, shape: TrainShape | null, optimizer: OptimizerName = 'sgd'): number {
  const sizer = new Sizer();
  const model = construct(NO_KERNELS, sizer, config, vocab, order, shape);
  return sizer.total + floatsFor(optimizerStateFloats(optimizer, model.params.count));
}

export interface BuildOptions {
  /** Training workspace (minibatch, BPTT); absent or null: scoring only. */
  shape?: TrainShape | null;
  /** Kernel backend (default 'auto': the fastest available). */
  backend?: KernelBackend | 'auto';
  /** The optimizer training will use (default 'sgd'); its state is allocated with the model. */
  optimizer?: OptimizerName;
  /** Kernel threads (default 1; 'auto': every core where memory can be shared). Results do not depend on it. */
  threads?: number | 'auto';
}

/**
 * Builds a model (parameters zero; call `initialize(rng)` or copy weights in).
 *
 * @example
 * ```ts
 * // runs
 * import { buildModel, corpusFromText, countIds, orderFor, Random, resolveConfig, scoreTokens } from 'kotoba';
 * const corpus = corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']);
 * const config = resolveConfig('lstm', { hidden: 16, layers: 1 }, corpus.vocab.size);
 * const counts = countIds(corpus.tokens, corpus.vocab.size);
 * const model = await buildModel(config, corpus.vocab, orderFor(config, counts), { shape: { batch: 2, bptt: 5 }, threads: 'auto' });
 * model.initialize(new Random(1), counts);
 * console.log(model.description, model.kernels.backend, model.kernels.threads, scoreTokens(model, corpus.tokens).perplexity);
 * model.kernels.close(); // stops the worker threads now rather than when the model is collected
 * ```
 */
export async function buildModel(config: NeuralConfig, vocab: Vocabulary, order: OutputOrder, options: BuildOptions = {}): Promise<NeuralModel<unknown>> {
  const shape = options.shape ?? null;
  const optimizer = options.optimizer ?? 'sgd';
  const floats = modelFloats(config, vocab, order, shape, optimizer);
  let k: Kernels;
  try {
    k = await createKernels(floats, { backend: options.backend ?? 'auto', threads: options.threads ?? 1 });
  } catch (e) {
    if (e instanceof KotobaError) throw e;
    throw new KotobaError(`cannot allocate ${((floats * 4) / 2 ** 20).toFixed(0)} MiB for the ${config.kind} model: ${(e as Error).message}`, 'use a smaller --hidden, --hash-size, --batch or vocabulary, or --classes');
  }
  return withOptimizer(construct(k, k, config, vocab, order, shape), k, optimizer);
}

/** Synchronous build on the plain TypeScript kernels (tests, tiny models). */
export function buildModelJs(config: NeuralConfig, vocab: Vocabulary, order: OutputOrder, shape: TrainShape | null = null, optimizer: OptimizerName = 'sgd'): NeuralModel<unknown> {
  const k = createJsKernels(modelFloats(config, vocab, order, shape, optimizer));
  return withOptimizer(construct(k, k, config, vocab, order, shape), k, optimizer);
}

function withOptimizer(model: NeuralModel<unknown>, k: Kernels, name: OptimizerName): NeuralModel<unknown> {
  if (name !== 'sgd') model.optimizer = new Optimizer(name, k, model.params.count);
  return model;
}

/**
 * The parameter tensors a configuration declares (names and shapes, in order) and the floats of
 * its parameter buffer, found by the sizing pass, without allocating: what a model file of that
 * configuration must hold, checked before anything is built from it.
 *
 * @example
 * ```ts
 * // runs
 * import { declaredParameters, outputOrder, resolveConfig, Vocabulary } from 'kotoba';
 * const vocab = Vocabulary.fromWords(['a', 'b']);
 * const config = resolveConfig('rnn', { hidden: 8 }, vocab.size);
 * const { tensors } = declaredParameters(config, vocab, outputOrder(new Array(vocab.size).fill(1), 0));
 * if (tensors[0]!.name !== 'embedding' || tensors[0]!.shape.join() !== '5,8') throw new Error('(V, E)');
 * ```
 */
export function declaredParameters(config: NeuralConfig, vocab: Vocabulary, order: OutputOrder): { tensors: { name: string; shape: readonly number[] }[]; floats: number } {
  const model = construct(NO_KERNELS, new Sizer(), config, vocab, order, null);
  return { tensors: model.params.tensors().map(({ name, shape }) => ({ name, shape })), floats: model.params.count };
}
