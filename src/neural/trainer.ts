/**
 * The training loop every neural model shares (pytorch/examples word_language_model and
 * Mikolov's RNNLM toolkit are the anchors):
 *
 *   for each epoch: lay out (shuffle) the data with the epoch's own seed
 *     for each step: forward + backward, SGD update with clipping, divergence guard, progress
 *     validation perplexity → keep the best weights; when it improves by less than
 *     `minImprovement`, start annealing the learning rate (× `annealFactor` each epoch); when it
 *     fails to improve enough again while annealing, stop early
 *   stop also at `epochs`, `maxTime` seconds (of this run) or `maxSteps` steps (in total), or
 *   when asked (Ctrl-C)
 *
 * Divergence stops training with an error and nothing written: a non-finite loss or gradient, a
 * loss that climbs far above where the run started, non-finite validation, or weights that fail
 * a quick check on the first training sentences before any checkpoint or the final model is
 * written, so the checkpoint on disk always holds weights from before the divergence.
 *
 * Everything that decides what happens next lives in {@link TrainingState} plus the weights, the
 * best weights, the carried recurrent state and the PRNG state, so a checkpoint taken between two
 * steps resumes into exactly the run that would have happened without the interruption.
 * Browser-safe: files are the caller's business (the `checkpoint` hook).
 */
import { KotobaError } from '../errors.js';
import { EOS } from '../text/vocabulary.js';
import type { Trainee } from './model.js';
import { Random } from '../util/random.js';

export interface TrainerOptions {
  /** Maximum epochs. */
  epochs: number;
  /** Initial learning rate η₀. */
  lr: number;
  /** Per-step decay ρ: η_t = η/(1 + ρ·t), t the global step (the lecture's schedule). 0: none. */
  lrDecay?: number;
  /** Linear warm-up: the rate rises from η/warmup to η over the first `warmup` steps. */
  warmup?: number;
  /**
   * 'plateau' (default): anneal on validation stalls, go back to the best weights after a worse
   * epoch, stop on the second stall (RNNLM, PyTorch's example). 'cosine': η·½(1 + cos(π·t/T))
   * over the T steps of `epochs` epochs after the warm-up, no annealing, no early stop (the best
   * weights on validation are still the result).
   */
  schedule?: 'plateau' | 'cosine';
  /** Global gradient-norm clipping threshold; 0: none. */
  clip?: number;
  /** L2 regularisation strength. */
  l2?: number;
  /** Relative validation improvement below which annealing starts, then training stops. Default 0.003 (Mikolov's 1.003). */
  minImprovement?: number;
  /** Learning-rate factor per epoch once annealing. Default 0.5. */
  annealFactor?: number;
  /** Seed: the epoch layouts and dropout masks derive from it. */
  seed: number;
  /** Shuffle the training sentences / examples each epoch. Default true. */
  shuffle?: boolean;
  /** Stop after this many seconds of training and validation in this run (a resumed run gets its own). */
  maxTime?: number;
  /** Stop after this many steps in total. */
  maxSteps?: number;
  /** Seconds between checkpoints (through the `checkpoint` hook). Default 300. */
  checkpointEvery?: number;
}

/** One epoch in the history (kept in the model file). */
export interface EpochRecord {
  epoch: number;
  /** Mean training loss (nats per token) and its perplexity. */
  trainLoss: number;
  trainPerplexity: number;
  /** Validation loss and perplexity (null without validation data). */
  validLoss: number | null;
  validPerplexity: number | null;
  /** Learning rate the epoch trained with. */
  lr: number;
  tokensPerSecond: number;
  seconds: number;
  /** Set when the epoch was cut short (time or step limit, interruption). */
  partial?: boolean;
}

/** Where training stands: everything besides the tensors that a resumed run needs. */
export interface TrainingState {
  /** Epoch in progress (0-based) and the next step in it. */
  epoch: number;
  step: number;
  globalStep: number;
  lr: number;
  annealing: boolean;
  bestValid: number | null;
  bestEpoch: number;
  history: EpochRecord[];
  /** Seconds spent training so far (all runs; `maxTime` counts this run's only). */
  elapsed: number;
  /** Dropout PRNG state. */
  rng: number[];
  /** Loss and tokens so far in the current epoch, and its seconds. */
  epochNats: number;
  epochTargets: number;
  epochSeconds: number;
}

/** What a checkpoint holds. Views: copy them before the next step. */
export interface Checkpoint {
  state: TrainingState;
  params: Float32Array;
  best: Float32Array | null;
  carried: Float32Array | null;
  /** The optimizer's moments (AdamW, Adagrad); null for SGD. */
  optimizer: Float32Array | null;
}

/** What a resumed run starts from (a checkpoint's contents; the weights are already in the model). */
export interface ResumeData {
  state: TrainingState;
  best: Float32Array | null;
  carried: Float32Array | null;
  optimizer?: Float32Array | null;
  /** The checkpoint's path, named as the last good one if the run diverges. */
  from?: string;
}

export interface Progress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  tokensPerSecond: number;
  /** Mean training loss so far this epoch (nats) and its perplexity. */
  loss: number;
  perplexity: number;
  lr: number;
  /** Seconds left in this epoch at the current speed. */
  eta: number;
}

export type StopReason = 'epochs' | 'converged' | 'time' | 'steps' | 'interrupted';

export interface TrainerHooks {
  /** About once a second. */
  progress?(p: Progress): void;
  /** After each epoch's validation. */
  epoch?(r: EpochRecord, state: TrainingState): void;
  /** Writes a checkpoint; returns where (for messages). */
  checkpoint?(c: Checkpoint): Promise<string>;
  /** Polled between steps: true asks the loop to checkpoint and stop (Ctrl-C). */
  shouldStop?(): boolean;
}

export interface TrainResult {
  reason: StopReason;
  state: TrainingState;
  /** Validation perplexity of the final weights (null without validation data). */
  validPerplexity: number | null;
  /** Where the last checkpoint went, if one was written. */
  checkpoint: string | null;
}

/** The state of a run that has not started. */
export function initialState(lr: number, seed: number): TrainingState {
  return {
    epoch: 0,
    step: 0,
    globalStep: 0,
    lr,
    annealing: false,
    bestValid: null,
    bestEpoch: -1,
    history: [],
    elapsed: 0,
    rng: new Random(seed, 1).state(),
    epochNats: 0,
    epochTargets: 0,
    epochSeconds: 0,
  };
}

/** The epoch layout's shuffle generator: a function of the seed and the epoch only. */
export function epochShuffle(seed: number, epoch: number): Random {
  return new Random(seed, 1000 + epoch);
}

/** Tokens of the probe the weights are checked on before anything is written. */
const PROBE_TOKENS = 1024;

/**
 * The rate of the next step: the base rate `state.lr` (halved by annealing) times the warm-up
 * ramp, then the cosine or the per-step decay.
 */
export function learningRate(o: TrainerOptions, s: TrainingState, stepsPerEpoch: number): number {
  const t = s.globalStep;
  const warmup = o.warmup ?? 0;
  if (t < warmup) return (s.lr * (t + 1)) / warmup;
  if (o.schedule === 'cosine') {
    const span = Math.max(1, o.epochs * stepsPerEpoch - warmup);
    return s.lr * 0.5 * (1 + Math.cos((Math.PI * Math.min(t - warmup, span)) / span));
  }
  const decay = o.lrDecay ?? 0;
  return decay > 0 ? s.lr / (1 + decay * t) : s.lr;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Trains `model` on `train` (a token stream of `<s> … </s>` sentences), validating on `valid`.
 *
 * @example
 * ```ts
 * // runs
 * import { buildModel, corpusFromText, countIds, orderFor, Random, resolveConfig, Trainer } from 'kotoba';
 * const train = corpusFromText(['the cat sat', 'the dog sat', 'a cat ran', 'a dog ran']);
 * const valid = corpusFromText(['the cat ran'], { vocab: train.vocab });
 * const config = resolveConfig('rnn', { hidden: 16 }, train.vocab.size);
 * const counts = countIds(train.tokens, train.vocab.size);
 * const model = await buildModel(config, train.vocab, orderFor(config, counts), { shape: { batch: 2, bptt: 4 } });
 * model.initialize(new Random(1), counts);
 * const t = new Trainer(model, train.tokens, valid.tokens, { epochs: 3, lr: 0.5, clip: 0.25, seed: 1 });
 * const result = await t.run();
 * console.log(result.reason, result.validPerplexity, t.state.history);
 * ```
 */
export class Trainer {
  state: TrainingState;
  /** The best weights so far (a copy), when validating. */
  best: Float32Array | null = null;
  private readonly rng: Random;
  private lastCheckpoint: string | null = null;

  constructor(
    readonly model: Trainee,
    readonly train: Uint32Array,
    readonly valid: Uint32Array | null,
    readonly options: TrainerOptions,
    readonly hooks: TrainerHooks = {},
    resume?: ResumeData,
  ) {
    this.state = resume ? structuredClone(resume.state) : initialState(options.lr, options.seed);
    this.rng = Random.fromState(this.state.rng);
    if (resume?.best) this.best = resume.best.slice();
    this.resumeCarried = resume?.carried ?? null;
    this.lastCheckpoint = resume?.from ?? null;
    this.probe = prefixTokens(train, PROBE_TOKENS);
    const opt = model.optimizer;
    if (resume && opt) {
      if (opt.state.length > 0 && resume.optimizer?.length !== opt.state.length) {
        throw new KotobaError(`the checkpoint has no ${opt.name} state for this model`, 'train again without --resume');
      }
      if (resume.optimizer && opt.state.length > 0) opt.state.set(resume.optimizer);
      opt.steps = this.state.globalStep; // every step made one update
    }
  }

  private resumeCarried: Float32Array | null;
  /** The first training sentences: the weights are checked on them before anything is written. */
  private readonly probe: Uint32Array;
  /** Loss (nats per token) on the probe when this run started, the first step's loss, and its moving average. */
  private probeStart = NaN;
  private lossStart = NaN;
  private lossAverage = NaN;

  /** Copies the state for a checkpoint (views of the live buffers; the hook must copy or write them now). */
  checkpointData(): Checkpoint {
    this.state.rng = this.rng.state();
    const opt = this.model.optimizer;
    return { state: this.state, params: this.model.params.values, best: this.best, carried: this.model.carried(), optimizer: opt && opt.state.length > 0 ? opt.state : null };
  }

  private async writeCheckpoint(): Promise<void> {
    if (!this.hooks.checkpoint) return;
    this.checkWeights();
    this.lastCheckpoint = await this.hooks.checkpoint(this.checkpointData());
  }

  /** Validation perplexity of the current weights. */
  validate(): number | null {
    if (!this.valid) return null;
    const { nats, targets } = this.model.evaluate(this.valid);
    return targets > 0 ? Math.exp(nats / targets) : null;
  }

  async run(): Promise<TrainResult> {
    const o = this.options;
    const s = this.state;
    const clip = o.clip ?? 0;
    const l2 = o.l2 ?? 0;
    const every = (o.checkpointEvery ?? 300) * 1000;
    const ps = this.model.params;
    let reason: StopReason | null = null;
    let lastCheckpointAt = performance.now();
    let lastProgress = performance.now();
    // This run's clock (--max-time limits this run), paused while checkpoints are written.
    const runStart = performance.now();
    const elapsedBefore = s.elapsed;
    let paused = 0;
    const runSeconds = () => (performance.now() - runStart - paused) / 1000;
    this.probeStart = this.probeLoss();
    if (!Number.isFinite(this.probeStart)) throw this.diverged(`the starting weights give a loss of ${this.probeStart} on the first training sentences`);

    while (reason === null) {
      if (s.epoch >= o.epochs) {
        reason = 'epochs';
        break;
      }
      const steps = this.model.beginEpoch(this.train, o.shuffle === false ? null : epochShuffle(o.seed, s.epoch));
      if (this.resumeCarried) {
        this.model.carried()?.set(this.resumeCarried);
        this.resumeCarried = null;
      }
      let epochStart = performance.now() - s.epochSeconds * 1000;
      while (s.step < steps) {
        if (this.hooks.shouldStop?.()) reason = 'interrupted';
        else if (o.maxSteps !== undefined && s.globalStep >= o.maxSteps) reason = 'steps';
        else if (o.maxTime !== undefined && runSeconds() >= o.maxTime) reason = 'time';
        if (reason) break;
        const lr = learningRate(o, s, steps);
        const { nats, targets } = this.model.trainStep(s.step, this.rng);
        const norm = Number.isFinite(nats) ? this.model.update(lr, clip, l2) : NaN;
        this.checkDivergence(targets > 0 ? nats / targets : 0, norm);
        s.epochNats += nats;
        s.epochTargets += targets;
        s.step++;
        s.globalStep++;
        const now = performance.now();
        s.epochSeconds = (now - epochStart) / 1000;
        s.elapsed = elapsedBefore + runSeconds();
        if (now - lastProgress >= 1000) {
          lastProgress = now;
          this.reportProgress(steps, lr);
          await yieldToEventLoop(); // lets Ctrl-C and other events through
        }
        if (this.hooks.checkpoint && now - lastCheckpointAt >= every) {
          await this.writeCheckpoint();
          lastCheckpointAt = performance.now();
          // Writing took time that is not training time.
          const pause = lastCheckpointAt - now;
          epochStart += pause;
          paused += pause;
        }
      }
      if (reason) {
        // Cut short: checkpoint exactly here, before anything below changes the state. Then,
        // unless interrupted (Ctrl-C should be quick), validate what we have so that the final
        // model is the better of it and the best so far.
        await this.writeCheckpoint();
        if (reason !== 'interrupted') this.finishEpoch(true);
        break;
      }
      if (this.finishEpoch(false)) reason = 'converged';
      s.elapsed = elapsedBefore + runSeconds(); // --max-time counts validation too
      s.epoch++;
      s.step = 0;
      s.epochNats = 0;
      s.epochTargets = 0;
      s.epochSeconds = 0;
    }
    // The final weights: the best on validation.
    let validPerplexity: number | null = null;
    if (this.best) {
      ps.values.set(this.best);
      validPerplexity = s.bestValid;
    } else if (this.valid) {
      validPerplexity = this.validate();
    }
    this.checkWeights();
    this.state.rng = this.rng.state();
    return { reason: reason ?? 'epochs', state: s, validPerplexity, checkpoint: this.lastCheckpoint };
  }

  /**
   * The divergence guard of the training loop, after each step: throws when the loss or the
   * gradient norm is not finite, or when the loss, averaged over the last steps, has climbed
   * more than ln V nats per token above this run's first step (a perplexity V times higher:
   * worse than where training started by more than any healthy run's noise).
   */
  private checkDivergence(loss: number, norm: number): void {
    if (!Number.isFinite(loss)) throw this.diverged(`the loss is ${loss}`);
    if (!Number.isFinite(norm)) throw this.diverged(`the gradient norm is ${norm}`);
    if (Number.isNaN(this.lossStart)) this.lossStart = this.lossAverage = loss;
    this.lossAverage += 0.1 * (loss - this.lossAverage);
    if (this.lossAverage > this.lossStart + Math.log(this.model.vocab.size)) {
      throw this.diverged(`the loss rose from ${this.lossStart.toFixed(2)} to ${this.lossAverage.toPrecision(3)} nats per token`);
    }
  }

  /**
   * Before a checkpoint or the final model is written: the weights must be finite and score the
   * first training sentences within ln V nats per token of where this run started (a step's
   * update can blow up weights whose loss the loop has not seen yet).
   */
  private checkWeights(): void {
    const where = `after global step ${this.state.globalStep}`;
    const w = this.model.params.values;
    for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i]!)) throw this.diverged(`a weight is ${w[i]}`, where);
    const loss = this.probeLoss();
    if (!(loss <= this.probeStart + Math.log(this.model.vocab.size))) {
      throw this.diverged(`the weights give a loss of ${loss.toPrecision(3)} nats per token on the first training sentences, up from ${this.probeStart.toFixed(2)}`, where);
    }
  }

  /** Loss of the current weights on the probe sentences (nats per token). */
  private probeLoss(): number {
    if (this.probe.length === 0) return 0;
    const { nats, targets } = this.model.evaluate(this.probe);
    return targets > 0 ? nats / targets : 0;
  }

  /**
   * Validation and the learning-rate schedule at the end of an epoch (or of a partial one).
   * Returns true when training should stop early.
   */
  private finishEpoch(partial: boolean): boolean {
    const s = this.state;
    const ps = this.model.params;
    const trainLoss = s.epochTargets > 0 ? s.epochNats / s.epochTargets : NaN;
    const record: EpochRecord = {
      epoch: s.epoch + 1,
      trainLoss,
      trainPerplexity: Math.exp(trainLoss),
      validLoss: null,
      validPerplexity: null,
      lr: s.lr,
      tokensPerSecond: s.epochSeconds > 0 ? s.epochTargets / s.epochSeconds : 0,
      seconds: s.epochSeconds,
    };
    if (partial) record.partial = true;
    let stop = false;
    const ppl = s.epochTargets > 0 || partial ? this.validate() : null;
    if (ppl !== null && !Number.isFinite(ppl)) throw this.diverged(`the validation perplexity is ${ppl}`);
    if (ppl !== null) {
      record.validLoss = Math.log(ppl);
      record.validPerplexity = ppl;
      const previous = s.bestValid;
      if (previous === null || ppl < previous) {
        s.bestValid = ppl;
        s.bestEpoch = s.epoch + 1;
        if (this.best) this.best.set(ps.values);
        else this.best = ps.values.slice();
      } else if (this.best && !partial && this.options.schedule !== 'cosine') {
        ps.values.set(this.best); // worse than before: go back to the best weights (as RNNLM does)
      }
      if (!partial && this.options.schedule !== 'cosine') {
        const enough = previous === null || ppl < previous * (1 - (this.options.minImprovement ?? 0.003));
        if (!enough) {
          if (s.annealing) stop = true;
          else s.annealing = true;
        }
        if (s.annealing && !stop) s.lr *= this.options.annealFactor ?? 0.5;
      }
    }
    if (s.epochTargets > 0 || ppl !== null) {
      s.history.push(record);
      this.hooks.epoch?.(record, s);
    }
    return stop;
  }

  private reportProgress(steps: number, lr: number): void {
    if (!this.hooks.progress) return;
    const s = this.state;
    const loss = s.epochTargets > 0 ? s.epochNats / s.epochTargets : NaN;
    const perStep = s.step > 0 ? s.epochSeconds / s.step : 0;
    this.hooks.progress({
      epoch: s.epoch + 1,
      epochs: this.options.epochs,
      step: s.step,
      steps,
      tokensPerSecond: s.epochSeconds > 0 ? s.epochTargets / s.epochSeconds : 0,
      loss,
      perplexity: Math.exp(loss),
      lr,
      eta: perStep * (steps - s.step),
    });
  }

  /** The one-line error for a diverged run: where, what, the checkpoint from before, what to do. */
  private diverged(what: string, where?: string): KotobaError {
    const s = this.state;
    where ??= `at epoch ${s.epoch + 1}, step ${s.step + 1} (global step ${s.globalStep + 1})`;
    const lr = `a lower --lr than ${s.lr}, e.g. --lr ${Number((s.lr / 10).toPrecision(3))}${(this.options.clip ?? 0) > 0 ? '' : ', or with --clip 1'}`;
    return new KotobaError(
      `training diverged ${where}: ${what}; no model written${this.lastCheckpoint ? `; the last good checkpoint is ${this.lastCheckpoint}` : ''}`,
      this.lastCheckpoint ? `continue with --resume and ${lr}` : `train again with ${lr}`,
    );
  }
}

/** The first sentences of a token stream holding at least `want` tokens (all of it when shorter). */
export function prefixTokens(tokens: Uint32Array, want: number): Uint32Array {
  let end = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === EOS) {
      end = i + 1;
      if (end >= want) break;
    }
  }
  return tokens.subarray(0, end);
}
