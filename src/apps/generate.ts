/**
 * Sampling sentences from any {@link LanguageModel}: word by word from p(· | state), with a
 * temperature, a top-k cut and a length limit, reproducible from a seed (kotoba's own PRNG,
 * xoshiro128**, the one the neural models use).
 *
 * Each step: the full next-word distribution (the model's `distribution`, or every word scored),
 * `<s>` (and `<unk>` when asked) removed, only the k most probable kept, each p raised to 1/T and
 * renormalised, then one draw. The sentence ends when `</s>` is drawn or after `maxWords` words.
 */
import { KotobaError } from '../errors.js';
import type { LanguageModel } from '../lm.js';
import { Random } from '../util/random.js';
import { EOS, UNK } from '../text/vocabulary.js';
import { contextState } from './nextword.js';
import { fullDistribution, topIds } from './nextword.js';

/** Anything that gives uniform numbers in [0, 1). */
export interface RandomSource {
  uniform(): number;
}

export interface SampleOptions {
  /** The generator (default: `new Random(seed)`). */
  random?: RandomSource;
  /** Seed for the default generator (default 0). */
  seed?: number;
  /** Temperature T > 0: p^(1/T), renormalised. 1 (default) samples the model; 0 is greedy (argmax). */
  temperature?: number;
  /** Keep only the k most probable words at each step (0 or absent: all). */
  topK?: number;
  /** Stop after this many generated words (the prefix not counted; default 100). */
  maxWords?: number;
  /** Words that start every sentence (string split on spaces, or words); a leading `<s>` is optional. */
  prefix?: string | readonly string[];
  /** May `<unk>` be drawn? (default true) */
  unk?: boolean;
}

/** One sampled sentence. */
export interface Sample {
  /** The prefix words followed by the generated words (`</s>` not included). */
  words: string[];
  /** How many of `words` are the prefix. */
  prefixLength: number;
  /** log10 p of the generated words (and of `</s>` when it ended) under the model itself (T = 1, no cut). */
  log10: number;
  /** True when `</s>` was drawn; false when `maxWords` stopped it. */
  ended: boolean;
}

/**
 * A reusable sampler: its buffers are allocated once, so drawing a word allocates nothing
 * beyond what the model's own `score` does.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, Sampler } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
 * const a = new Sampler(model, { seed: 42, temperature: 0.8, topK: 50 }).sample();
 * const b = new Sampler(model, { seed: 42, temperature: 0.8, topK: 50 }).sample();
 * if (a.words.join(' ') !== b.words.join(' ')) throw new Error('same seed, same sentence');
 * ```
 */
export class Sampler<S> {
  private readonly lm: LanguageModel<S>;
  private readonly random: RandomSource;
  private readonly temperature: number;
  private readonly topK: number;
  private readonly maxWords: number;
  private readonly unk: boolean;
  private readonly prefix: string[];
  private readonly prefixState: S;
  private readonly dist: Float64Array;
  private readonly ids: Int32Array;

  constructor(lm: LanguageModel<S>, options: SampleOptions = {}) {
    this.lm = lm;
    this.random = options.random ?? new Random(options.seed ?? 0);
    const T = options.temperature ?? 1;
    if (!(T >= 0) || !Number.isFinite(T)) throw new KotobaError(`temperature must be a number ≥ 0, not ${T}`, 'use e.g. --temperature 0.8 (0 = always the most probable word)');
    this.temperature = T;
    const k = options.topK ?? 0;
    if (!Number.isInteger(k) || k < 0) throw new KotobaError(`top-k must be a whole number ≥ 0, not ${k}`, 'use e.g. --top-k 40 (0 = no cut)');
    const V = lm.vocab.size;
    this.topK = k === 0 || k > V ? V : k;
    const max = options.maxWords ?? 100;
    if (!Number.isInteger(max) || max < 1) throw new KotobaError(`max-words must be a whole number ≥ 1, not ${max}`);
    this.maxWords = max;
    this.unk = options.unk !== false;
    const ctx = contextState(lm, options.prefix ?? []);
    this.prefix = ctx.words;
    this.prefixState = ctx.state;
    this.dist = new Float64Array(V);
    this.ids = new Int32Array(this.topK);
  }

  /**
   * Draws the next word id after `state`.
   *
   * @example
   * ```ts
   * // runs
   * import { BackoffModel, corpusFromText, estimate, Sampler } from 'kotoba';
   * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
   * const sampler = new Sampler(model, { seed: 1 });
   * const id = sampler.draw(model.begin()); // a first word (or </s>)
   * console.log(model.vocab.word(id));
   * ```
   */
  draw(state: S): number {
    const dist = fullDistribution(this.lm, state, this.dist);
    if (!this.unk) dist[UNK] = 0;
    const V = this.lm.vocab.size;
    if (this.temperature === 0) {
      // Greedy: the most probable word, ties to the lower id.
      let best = -1;
      for (let w = 0; w < V; w++) if (dist[w]! > 0 && (best < 0 || dist[w]! > dist[best]!)) best = w;
      if (best < 0) throw noMass();
      return best;
    }
    const invT = 1 / this.temperature;
    if (this.topK < V) {
      const n = topIds(dist, V, this.topK, this.ids);
      if (n === 0) throw noMass();
      // p^(1/T) relative to the largest, so small temperatures do not underflow to all zeros.
      const top = dist[this.ids[0]!]!;
      let total = 0;
      for (let i = 0; i < n; i++) total += invT === 1 ? dist[this.ids[i]!]! : Math.pow(dist[this.ids[i]!]! / top, invT);
      let u = this.random.uniform() * total;
      for (let i = 0; i < n; i++) {
        const id = this.ids[i]!;
        u -= invT === 1 ? dist[id]! : Math.pow(dist[id]! / top, invT);
        if (u < 0) return id;
      }
      return this.ids[n - 1]!; // rounding left u ≥ 0: the last candidate
    }
    let top = 0;
    for (let w = 0; w < V; w++) if (dist[w]! > top) top = dist[w]!;
    if (top === 0) throw noMass();
    let total = 0;
    if (invT === 1) for (let w = 0; w < V; w++) total += dist[w]!;
    else for (let w = 0; w < V; w++) total += dist[w] = dist[w]! > 0 ? Math.pow(dist[w]! / top, invT) : 0;
    let u = this.random.uniform() * total;
    let last = -1;
    for (let w = 0; w < V; w++) {
      const p = dist[w]!;
      if (p <= 0) continue;
      last = w;
      u -= p;
      if (u < 0) return w;
    }
    return last;
  }

  /**
   * One sentence, from `<s>` (and the prefix) to `</s>` or the length limit.
   *
   * @example
   * ```ts
   * // runs
   * import { BackoffModel, corpusFromText, estimate, Sampler } from 'kotoba';
   * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
   * const { words, ended, log10 } = new Sampler(model, { seed: 3, prefix: 'the' }).sample();
   * if (words[0] !== 'the' || !(log10 < 0)) throw new Error('starts with the prefix');
   * console.log(words.join(' '), ended);
   * ```
   */
  sample(): Sample {
    const lm = this.lm;
    const words = this.prefix.slice();
    let state = this.prefixState;
    let log10 = 0;
    for (let n = 0; n < this.maxWords; n++) {
      const w = this.draw(state);
      const r = lm.score(state, w);
      log10 += r.log10;
      if (w === EOS) return { words, prefixLength: this.prefix.length, log10, ended: true };
      words.push(lm.vocab.word(w));
      state = r.next;
    }
    return { words, prefixLength: this.prefix.length, log10, ended: false };
  }
}

function noMass(): KotobaError {
  return new KotobaError('the model gives no probability to any word it may draw here', 'allow <unk>, raise --top-k, or check the model');
}

/**
 * `count` sentences sampled from `lm` with one generator, so a seed fixes all of them.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, generate } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
 * for (const s of generate(model, 3, { seed: 1, prefix: 'the' })) console.log(s.words.join(' '));
 * ```
 */
export function generate<S>(lm: LanguageModel<S>, count: number, options: SampleOptions = {}): Sample[] {
  const sampler = new Sampler(lm, options);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) out.push(sampler.sample());
  return out;
}
