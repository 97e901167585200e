/**
 * The neural language models: log-linear, feed-forward (Bengio), Elman RNN (Mikolov), GRU and
 * LSTM (Zaremba), each a LanguageModel; their layers, training loop and safetensors model files.
 * Browser-safe (files are in kotoba/node: saveNeuralModel, loadNeuralModel).
 *
 * @example
 * ```ts
 * import { buildModel, countIds, orderFor, Random, resolveConfig, scoreTokens, Trainer, type Corpus } from 'kotoba';
 * declare const train: Corpus, valid: Corpus, test: Corpus; // valid and test built with train.vocab
 * const config = resolveConfig('rnn', { hidden: 200 }, train.vocab.size);
 * const counts = countIds(train.tokens, train.vocab.size);
 * const model = await buildModel(config, train.vocab, orderFor(config, counts), { shape: { batch: 20, bptt: 35 } });
 * model.initialize(new Random(1), counts);
 * await new Trainer(model, train.tokens, valid.tokens, { epochs: 10, lr: 5, clip: 0.25, seed: 1 }).run();
 * scoreTokens(model, test.tokens).perplexity;
 * ```
 */
export { Random } from '../util/random.js';
export { createKernels, createJsKernels, availableKernelBackends, floatsFor, type Kernels, type KernelBackend, type KernelOptions } from './kernels/index.js';
export { ParamSet, Sizer, sgdStep, gradNorm, type Allocator, type Tensor } from './params.js';
export { Optimizer, OPTIMIZERS, optimizerStateFloats, type OptimizerName } from './optim.js';
export * as layers from './layers.js';
export { outputOrder, validOrder, SoftmaxOutput, ClassSoftmaxOutput, type OutputOrder, type OutputLayer } from './output.js';
export {
  NeuralModel,
  NEURAL_KINDS,
  describe as describeNeuralConfig,
  type NeuralKind,
  type NeuralConfig,
  type TrainShape,
  type Trainee,
  type LossSum,
} from './model.js';
export { LogLinearModel, DEFAULT_HASH_SIZE } from './loglinear.js';
export { FeedForwardModel } from './ffnn.js';
export { StackedRecurrentModel, type CellKind } from './stacked.js';
export { buildModel, buildModelJs, resolveConfig, orderFor, countIds, defaultClasses, modelFloats, declaredParameters, type ArchitectureOptions, type BuildOptions } from './build.js';
export {
  Trainer,
  initialState,
  learningRate,
  epochShuffle,
  type TrainerOptions,
  type TrainerHooks,
  type TrainingState,
  type EpochRecord,
  type Checkpoint,
  type ResumeData,
  type Progress,
  type StopReason,
  type TrainResult,
} from './trainer.js';
export { encodeSafetensors, decodeSafetensors, safetensorsBytes, looksLikeSafetensors, type SafeTensor, type SafetensorsFile } from './safetensors.js';
export {
  NEURAL_FORMAT,
  NEURAL_FORMAT_VERSION,
  MAX_WEIGHT,
  neuralModelFile,
  readNeuralFile,
  loadWeights,
  neuralModelFromFile,
  isNeuralModelFile,
  type NeuralFileContents,
  type NeuralFileExtras,
} from './model-file.js';
export { trainingReport } from './report.js';
