/**
 * Neural model files: safetensors with the weights as named F32 tensors (the names of the
 * parameter set, e.g. `lstm.0.recurrent`, shape (H, 4H)), the output order as I32 tensors, and
 * in `__metadata__` (all strings, as the format requires):
 *
 *   format          "kotoba-neural"
 *   format_version  "1"
 *   config          the architecture (JSON, see NeuralConfig)
 *   vocabulary      the words in id order (JSON array; ids 0, 1, 2 are <unk>, <s>, </s>)
 *   text            how the text was split into words: { lowercase, segment } (JSON; absent
 *                   when unknown)
 *   history         per-epoch loss, validation perplexity, learning rate, tokens/s (JSON)
 *   training        how it was trained: options, data, seed, kernels (JSON)
 *   checkpoint      training state (JSON), only in checkpoints, which also hold the tensors
 *                   `checkpoint.best` (best weights so far), `checkpoint.carried` (recurrent
 *                   state) and `checkpoint.optimizer` (AdamW's moments, Adagrad's accumulator)
 *
 * A checkpoint is itself a loadable model (its current weights).
 */
import { KotobaError, printable } from '../errors.js';
import { textOptionsFromJson, textOptionsToJson } from '../text/text-options.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { BOS, Vocabulary } from '../text/vocabulary.js';
import { buildModel, declaredParameters, resolveConfig, type ArchitectureOptions, type BuildOptions } from './build.js';
import { describe, NEURAL_KINDS, type NeuralConfig, type NeuralModel } from './model.js';
import { validOrder, type OutputOrder } from './output.js';
import type { SafeTensor, SafetensorsFile } from './safetensors.js';
import type { EpochRecord, TrainingState } from './trainer.js';

export const NEURAL_FORMAT = 'kotoba-neural';
export const NEURAL_FORMAT_VERSION = 1;

export interface CheckpointTensors {
  state: TrainingState;
  best: Float32Array | null;
  carried: Float32Array | null;
  /** The optimizer's moments (AdamW, Adagrad). */
  optimizer?: Float32Array | null;
}

export interface NeuralFileExtras {
  history?: EpochRecord[];
  training?: Record<string, unknown>;
  checkpoint?: CheckpointTensors;
}

/** The tensors and metadata of a model (views of its weights: encode before changing them). */
export function neuralModelFile(model: NeuralModel<unknown>, extras: NeuralFileExtras = {}): SafetensorsFile {
  const tensors = new Map<string, SafeTensor>();
  for (const t of model.params.tensors()) tensors.set(t.name, { dtype: 'F32', shape: [...t.shape], data: t.value });
  tensors.set('vocab.output_order', { dtype: 'I32', shape: [model.order.word.length], data: model.order.word });
  if (model.order.classStart) tensors.set('vocab.class_start', { dtype: 'I32', shape: [model.order.classStart.length], data: model.order.classStart });
  const metadata: Record<string, string> = {
    format: NEURAL_FORMAT,
    format_version: String(NEURAL_FORMAT_VERSION),
    description: model.description,
    config: JSON.stringify(model.config),
    vocabulary: JSON.stringify(model.vocab.list()),
    ...(model.text ? { text: JSON.stringify(textOptionsToJson(model.text)) } : {}),
    history: JSON.stringify(extras.history ?? []),
    training: JSON.stringify(extras.training ?? {}),
  };
  const c = extras.checkpoint;
  if (c) {
    metadata.checkpoint = JSON.stringify(c.state);
    if (c.best) tensors.set('checkpoint.best', { dtype: 'F32', shape: [c.best.length], data: c.best });
    if (c.carried) tensors.set('checkpoint.carried', { dtype: 'F32', shape: [c.carried.length], data: c.carried });
    if (c.optimizer) tensors.set('checkpoint.optimizer', { dtype: 'F32', shape: [c.optimizer.length], data: c.optimizer });
  }
  return { tensors, metadata };
}

/** A model file read and checked, before any kernels exist. */
export interface NeuralFileContents {
  config: NeuralConfig;
  vocab: Vocabulary;
  /** How the model's text is split into words; undefined when the file does not say. */
  text: TokenizeOptions | undefined;
  order: OutputOrder;
  weights: Map<string, SafeTensor>;
  history: EpochRecord[];
  training: Record<string, unknown>;
  checkpoint: CheckpointTensors | null;
}

/** Whether decoded safetensors metadata is a kotoba neural model. */
export function isNeuralModelFile(file: SafetensorsFile): boolean {
  return file.metadata.format === NEURAL_FORMAT;
}

function parseJson<T>(file: SafetensorsFile, key: string, source: string, fallback?: T): T {
  const text = file.metadata[key];
  if (text === undefined) {
    if (fallback !== undefined) return fallback;
    throw new KotobaError(`${source}: the model has no ${key} in its metadata`, 'the file is not a complete kotoba model; train it again');
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new KotobaError(`${source}: the ${key} in the model's metadata is not valid JSON`, 'the file is corrupt; train it again');
  }
}

/**
 * The largest weight magnitude a model file may hold. Trained weights stay far below it (tens at
 * most), and below it no product in any layer can overflow float32, so every score is finite.
 */
export const MAX_WEIGHT = 1e6;

/**
 * Reads and checks the parts of a kotoba neural model file. Everything is checked against what
 * the file holds before anything is built from it: the configuration is one the training
 * command could have made (each value in its range) for the vocabulary in the file, the output
 * order is a permutation of it, the file has every tensor that configuration declares with
 * exactly its shape, and every weight is finite and at most {@link MAX_WEIGHT} in magnitude. So a
 * corrupt or crafted file costs time and memory in proportion to its size, and is one error.
 */
export function readNeuralFile(file: SafetensorsFile, source: string): NeuralFileContents {
  const corrupt = (why: string) => new KotobaError(`${source}: ${why}`, 'the file is corrupt; train it again');
  const m = file.metadata;
  if (m.format !== NEURAL_FORMAT) {
    throw new KotobaError(`${source}: a safetensors file, but not a kotoba neural model (format ${m.format === undefined ? 'missing' : `'${printable(m.format.slice(0, 40))}'`})`, 'kotoba opens the .safetensors files that kotoba train writes');
  }
  const version = Number(m.format_version);
  if (!Number.isInteger(version) || version < 1) throw corrupt(`invalid format_version '${printable(String(m.format_version).slice(0, 20))}'`);
  if (version > NEURAL_FORMAT_VERSION) {
    throw new KotobaError(`${source}: model format version ${version} is newer than this kotoba reads (${NEURAL_FORMAT_VERSION})`, 'upgrade kotoba');
  }
  const stored = parseJson<Partial<NeuralConfig> | null>(file, 'config', source);
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) throw corrupt('the config is not a JSON object');
  if (!(NEURAL_KINDS as readonly unknown[]).includes(stored.kind)) throw new KotobaError(`${source}: unknown model kind '${printable(String(stored.kind).slice(0, 40))}'`, 'upgrade kotoba');
  const words = parseJson<unknown>(file, 'vocabulary', source);
  if (!Array.isArray(words) || words.length !== stored.vocabSize || words.some((w) => typeof w !== 'string')) {
    throw corrupt(`the vocabulary does not match the model (${Array.isArray(words) ? words.length : 'no'} words for ${printable(String(stored.vocabSize).slice(0, 20))})`);
  }
  const vocab = Vocabulary.fromWords(words as string[]);
  if (vocab.size !== words.length || (words as string[]).some((w, i) => vocab.word(i) !== w)) {
    throw corrupt('the vocabulary does not start with <unk>, <s>, </s> or repeats a word');
  }
  const config = checkedConfig(stored, vocab.size, source);
  const wordOrder = file.tensors.get('vocab.output_order');
  if (!wordOrder || wordOrder.dtype !== 'I32') throw corrupt('the model has no vocab.output_order tensor');
  const cs = file.tensors.get('vocab.class_start');
  const row = new Int32Array(config.vocabSize);
  const word = wordOrder.data;
  for (let j = 0; j < word.length; j++) if (word[j]! >= 0 && word[j]! < row.length) row[word[j]!] = j;
  row[BOS] = word.length;
  const order: OutputOrder = { row, word, classStart: cs && cs.dtype === 'I32' ? cs.data : null };
  const problem = validOrder(order, config.vocabSize);
  if (problem) throw corrupt(problem);
  if ((order.classStart ? order.classStart.length - 1 : 0) !== config.classes) {
    throw corrupt(`${config.classes} classes in the config, ${order.classStart ? order.classStart.length - 1 : 0} in the file`);
  }
  const declared = declaredParameters(config, vocab, order);
  for (const { name, shape } of declared.tensors) {
    const w = file.tensors.get(name) ?? file.tensors.get(legacyName(name));
    if (!w) throw corrupt(`the ${config.kind} model has no tensor ${name}`);
    if (w.dtype !== 'F32' || w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
      throw corrupt(`tensor ${name} has shape ${JSON.stringify(w.shape).slice(0, 60)} (${w.dtype}), the config says ${JSON.stringify(shape)} (F32)`);
    }
    checkWeights(w.data as Float32Array, name, source);
  }
  let checkpoint: CheckpointTensors | null = null;
  if (m.checkpoint !== undefined) {
    const best = file.tensors.get('checkpoint.best');
    const carried = file.tensors.get('checkpoint.carried');
    if (best && (best.dtype !== 'F32' || best.data.length !== declared.floats)) throw corrupt(`checkpoint.best holds ${best.data.length} values, the model ${declared.floats}`);
    if (best) checkWeights(best.data as Float32Array, 'checkpoint.best', source);
    if (carried && carried.dtype === 'F32') checkWeights(carried.data, 'checkpoint.carried', source);
    // The optimizer's state (AdamW's moments, Adagrad's sums): its length is the optimizer's, which
    // the trainer checks on resume; its values must be finite (squared gradients may be large).
    const optimizer = file.tensors.get('checkpoint.optimizer');
    if (optimizer && optimizer.dtype === 'F32') {
      const bad = optimizer.data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw corrupt(`tensor checkpoint.optimizer holds ${optimizer.data[bad]} at index ${bad}`);
    }
    checkpoint = {
      state: checkedState(parseJson<unknown>(file, 'checkpoint', source), source),
      best: best && best.dtype === 'F32' ? best.data : null,
      carried: carried && carried.dtype === 'F32' ? carried.data : null,
      optimizer: optimizer && optimizer.dtype === 'F32' ? optimizer.data : null,
    };
  }
  const text = m.text === undefined ? undefined : textOptionsFromJson(parseJson<unknown>(file, 'text', source), source);
  return {
    config,
    vocab,
    text,
    order,
    weights: file.tensors,
    history: parseJson<EpochRecord[]>(file, 'history', source, []),
    training: parseJson<Record<string, unknown>>(file, 'training', source, {}),
    checkpoint,
  };
}

/**
 * The stored configuration, checked by the rules the training command applies to its options
 * (so every size is a whole number in its range, and `layers: 1e9` is refused before anything is
 * sized) and equal to what those rules make of it.
 */
function checkedConfig(stored: Partial<NeuralConfig>, vocabSize: number, source: string): NeuralConfig {
  let config: NeuralConfig;
  try {
    config = resolveConfig(stored.kind!, stored as ArchitectureOptions, vocabSize);
  } catch (e) {
    if (!(e instanceof KotobaError)) throw e;
    // The rules speak of options (--hidden); here they are values of the file's config.
    throw new KotobaError(`${source}: invalid config: ${printable(e.problem.replace(/--(?=[a-z])/g, '').slice(0, 200))}`, 'the file is corrupt; train it again');
  }
  for (const [key, value] of Object.entries(config)) {
    const given = (stored as Record<string, unknown>)[key];
    if (given !== undefined && given !== value) {
      throw new KotobaError(`${source}: invalid config: ${key} is ${printable(String(JSON.stringify(given)).slice(0, 30))}, not ${JSON.stringify(value)}`, 'the file is corrupt; train it again');
    }
  }
  return config;
}

/** A checkpoint's training state, each field of the type and range the trainer assumes. */
function checkedState(state: unknown, source: string): TrainingState {
  const fail = (what: string) => new KotobaError(`${source}: invalid training state in the checkpoint: ${what}`, 'the checkpoint is corrupt; train again without --resume');
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw fail('not a JSON object');
  const s = state as Record<string, unknown>;
  const atLeast = (min: number, whole = false) => (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= min && (!whole || Number.isSafeInteger(x));
  const rules: [string, (x: unknown) => boolean][] = [
    ['epoch', atLeast(0, true)],
    ['step', atLeast(0, true)],
    ['globalStep', atLeast(0, true)],
    ['bestEpoch', atLeast(-1, true)],
    ['elapsed', atLeast(0)],
    ['epochNats', atLeast(0)],
    ['epochTargets', atLeast(0)],
    ['epochSeconds', atLeast(0)],
    ['lr', (x) => atLeast(0)(x) && (x as number) > 0],
    ['annealing', (x) => typeof x === 'boolean'],
    ['bestValid', (x) => x === null || atLeast(0)(x)],
    ['history', Array.isArray],
    ['rng', (x) => Array.isArray(x) && x.length === 4 && x.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)],
  ];
  for (const [field, ok] of rules) if (!ok(s[field])) throw fail(`${field} is ${printable(String(JSON.stringify(s[field])).slice(0, 30))}`);
  return s as unknown as TrainingState;
}

/** Refuses a tensor with a non-finite value or one above {@link MAX_WEIGHT}, naming it. */
function checkWeights(data: Float32Array, name: string, source: string): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (!(Math.abs(x) <= MAX_WEIGHT)) {
      throw new KotobaError(
        `${source}: tensor ${name} holds ${Number.isNaN(x) ? 'NaN' : Number.isFinite(x) ? `${x}, above ${MAX_WEIGHT} in magnitude,` : x} at index ${i}`,
        'the model diverged or the file is corrupt; train it again',
      );
    }
  }
}

/** Files written before the RNN had layers name its one layer `rnn.input` where it is now `rnn.0.input`. */
function legacyName(name: string): string {
  return name.replace(/^rnn\.0\.(input|recurrent|bias)$/, 'rnn.$1');
}

/** Copies a file's weights into a model of the same configuration, checking every name and shape. */
export function loadWeights(model: NeuralModel<unknown>, weights: Map<string, SafeTensor>, source: string): void {
  for (const t of model.params.tensors()) {
    const w = weights.get(t.name) ?? weights.get(legacyName(t.name));
    if (!w) throw new KotobaError(`${source}: the model has no tensor ${t.name}`, 'the file is corrupt or from another kotoba; train it again');
    if (w.dtype !== 'F32' || w.shape.length !== t.shape.length || w.shape.some((d, i) => d !== t.shape[i])) {
      throw new KotobaError(`${source}: tensor ${t.name} has shape ${JSON.stringify(w.shape)} (${w.dtype}), expected ${JSON.stringify(t.shape)} (F32)`, 'the file is corrupt; train it again');
    }
    t.value.set(w.data as Float32Array);
  }
}

/**
 * Builds the model a file describes and loads its weights.
 *
 * @example
 * ```ts
 * // runs
 * import { buildModel, corpusFromText, countIds, decodeSafetensors, neuralModelFile, neuralModelFromFile, orderFor, Random, resolveConfig, safetensorsBytes, scoreSentence } from 'kotoba';
 * const corpus = corpusFromText(['the cat sat', 'the dog sat']);
 * const config = resolveConfig('ffnn', { order: 3, embed: 8, hidden: 8 }, corpus.vocab.size);
 * const original = await buildModel(config, corpus.vocab, orderFor(config, countIds(corpus.tokens, corpus.vocab.size)));
 * original.initialize(new Random(1));
 * const { tensors, metadata } = neuralModelFile(original);
 * const bytes = safetensorsBytes(tensors, metadata); // what saveNeuralModel writes to ffnn.safetensors
 *
 * const model = await neuralModelFromFile(decodeSafetensors(bytes, 'ffnn.safetensors'), 'ffnn.safetensors');
 * const ids = ['the', 'cat', 'sat'].map((w) => model.vocab.id(w));
 * if (scoreSentence(model, ids).total !== scoreSentence(original, ids).total) throw new Error('the same model');
 * ```
 */
export async function neuralModelFromFile(file: SafetensorsFile, source: string, options: BuildOptions = {}): Promise<NeuralModel<unknown>> {
  const c = readNeuralFile(file, source);
  const model = await buildModel(c.config, c.vocab, c.order, options);
  loadWeights(model, c.weights, source);
  model.text = c.text;
  return model;
}

/** The description of a file's model without building it (for `kotoba info`). */
export function describeNeuralFile(file: SafetensorsFile, source: string): string {
  return describe(readNeuralFile(file, source).config);
}
