/**
 * Neural model files: safetensors with the weights as named F32 tensors (the names of the
 * parameter set, e.g. `lstm.0.recurrent`, shape (H, 4H)), the output order as I32 tensors, and
 * in `__metadata__` (all strings, as the format requires):
 *
 *   format          "kotoba-neural"
 *   format_version  "1"
 *   config          the architecture (JSON, see NeuralConfig)
 *   vocabulary      the words in id order (JSON array; ids 0, 1, 2 are <unk>, <s>, </s>)
 *   history         per-epoch loss, validation perplexity, learning rate, tokens/s (JSON)
 *   training        how it was trained: options, data, seed, kernels (JSON)
 *   checkpoint      training state (JSON), only in checkpoints, which also hold the tensors
 *                   `checkpoint.best` (best weights so far), `checkpoint.carried` (recurrent
 *                   state) and `checkpoint.optimizer` (AdamW's moments, Adagrad's accumulator)
 *
 * A checkpoint is itself a loadable model (its current weights).
 */
import { KotobaError } from '../errors.js';
import { BOS, Vocabulary } from '../text/vocabulary.js';
import { buildModel, resolveConfig, type ArchitectureOptions, type BuildOptions } from './build.js';
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

/** Reads and checks the parts of a kotoba neural model file. */
export function readNeuralFile(file: SafetensorsFile, source: string): NeuralFileContents {
  const m = file.metadata;
  if (m.format !== NEURAL_FORMAT) {
    throw new KotobaError(`${source}: a safetensors file, but not a kotoba neural model (format ${m.format === undefined ? 'missing' : `'${m.format}'`})`, 'kotoba opens the .safetensors files that kotoba train writes');
  }
  const version = Number(m.format_version);
  if (!Number.isInteger(version) || version < 1) throw new KotobaError(`${source}: invalid format_version '${m.format_version}'`, 'the file is corrupt; train it again');
  if (version > NEURAL_FORMAT_VERSION) {
    throw new KotobaError(`${source}: model format version ${version} is newer than this kotoba reads (${NEURAL_FORMAT_VERSION})`, 'upgrade kotoba');
  }
  const raw = parseJson<NeuralConfig>(file, 'config', source);
  if (!(NEURAL_KINDS as readonly string[]).includes(raw?.kind)) throw new KotobaError(`${source}: unknown model kind '${String(raw?.kind)}'`, 'upgrade kotoba');
  if (!Number.isInteger(raw.vocabSize) || raw.vocabSize < 3) throw new KotobaError(`${source}: the config's vocabulary size ${String(raw.vocabSize)} is invalid`, 'the file is corrupt; train it again');
  // The architecture goes through the same checks as the command line's (sizes, heads dividing
  // the width, the window, known names), with the defaults of older files filled in.
  let config: NeuralConfig;
  try {
    config = resolveConfig(raw.kind, raw as ArchitectureOptions, raw.vocabSize);
  } catch (e) {
    throw new KotobaError(`${source}: the model's config is invalid: ${(e as Error).message}`, 'the file is corrupt; train it again');
  }
  const words = parseJson<string[]>(file, 'vocabulary', source);
  if (!Array.isArray(words) || words.length !== config.vocabSize || words.some((w) => typeof w !== 'string')) {
    throw new KotobaError(`${source}: the vocabulary does not match the model (${Array.isArray(words) ? words.length : 'no'} words for ${config.vocabSize})`, 'the file is corrupt; train it again');
  }
  const vocab = Vocabulary.fromWords(words);
  if (vocab.size !== config.vocabSize) throw new KotobaError(`${source}: the vocabulary has repeated words`, 'the file is corrupt; train it again');
  const wordOrder = file.tensors.get('vocab.output_order');
  if (!wordOrder || wordOrder.dtype !== 'I32') throw new KotobaError(`${source}: the model has no vocab.output_order tensor`, 'the file is corrupt; train it again');
  const cs = file.tensors.get('vocab.class_start');
  const row = new Int32Array(config.vocabSize);
  const word = wordOrder.data;
  for (let j = 0; j < word.length; j++) if (word[j]! >= 0 && word[j]! < row.length) row[word[j]!] = j;
  row[BOS] = word.length;
  const order: OutputOrder = { row, word, classStart: cs && cs.dtype === 'I32' ? cs.data : null };
  const problem = validOrder(order, config.vocabSize);
  if (problem) throw new KotobaError(`${source}: ${problem}`, 'the file is corrupt; train it again');
  if ((order.classStart ? order.classStart.length - 1 : 0) !== config.classes) {
    throw new KotobaError(`${source}: ${config.classes} classes in the config, ${order.classStart ? order.classStart.length - 1 : 0} in the file`, 'the file is corrupt; train it again');
  }
  let checkpoint: CheckpointTensors | null = null;
  if (m.checkpoint !== undefined) {
    const best = file.tensors.get('checkpoint.best');
    const carried = file.tensors.get('checkpoint.carried');
    const optimizer = file.tensors.get('checkpoint.optimizer');
    checkpoint = {
      state: parseJson<TrainingState>(file, 'checkpoint', source),
      best: best && best.dtype === 'F32' ? best.data : null,
      carried: carried && carried.dtype === 'F32' ? carried.data : null,
      optimizer: optimizer && optimizer.dtype === 'F32' ? optimizer.data : null,
    };
  }
  return {
    config,
    vocab,
    order,
    weights: file.tensors,
    history: parseJson<EpochRecord[]>(file, 'history', source, []),
    training: parseJson<Record<string, unknown>>(file, 'training', source, {}),
    checkpoint,
  };
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
  return model;
}

/** The description of a file's model without building it (for `kotoba info`). */
export function describeNeuralFile(file: SafetensorsFile, source: string): string {
  return describe(readNeuralFile(file, source).config);
}
