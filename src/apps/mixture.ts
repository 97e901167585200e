/**
 * Linear interpolation of any language models: p(w | h) = Σ_i λ_i p_i(w | h), itself a
 * {@link LanguageModel} whose state is the tuple of the components' states, so perplexity,
 * scoring, reranking and sampling take a mixture like any model. The weights λ are tuned by EM
 * on a development text ({@link tuneWeights}).
 *
 * Vocabularies: the mixture's vocabulary is the union of the components' (the first
 * component's words first, in its order). A word outside component i's vocabulary gets p_i = 0
 * from it (its `<unk>` mass belongs to the words it does not know as a class, not to each of
 * them), and component i reads it as `<unk>` to move on; `<unk>` itself gets Σ_i λ_i p_i(<unk>).
 * So the mixture's distribution still sums to 1 over the union. Models with the same word list
 * (the usual case: trained on the same text) share it and need no mapping.
 *
 * Text options: a mixture scores one sequence of words, so its components must split text into
 * words the same way. Components that store their text options must agree; those that do not
 * (another toolkit's ARPA file) are taken to read text as the others do.
 */
import { KotobaError } from '../errors.js';
import type { LanguageModel, Scored } from '../lm.js';
import { describeTextOptions, sameTextOptions } from '../text/text-options.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { BOS, EOS, UNK, Vocabulary } from '../text/vocabulary.js';
import { alignVocabularies, checkWeights, type AlignedVocabularies } from '../util/mixing.js';
// Part of the mixture's public API, kept below the model families for ngram/mixture-arpa.ts.
export { alignVocabularies, checkWeights, type AlignedVocabularies };

/**
 * The text options that models to be mixed share: those of the models that store theirs, which
 * must agree (a KotobaError naming two that differ), or undefined when none does.
 *
 * @example
 * ```ts
 * import { sharedTextOptions, type LanguageModel } from 'kotoba';
 * declare const ngram: LanguageModel, rnn: LanguageModel;
 * const text = sharedTextOptions([ngram, rnn], ['wiki3.kblm', 'rnn.safetensors']); // e.g. { lowercase: true }
 * ```
 */
export function sharedTextOptions(models: readonly LanguageModel<unknown>[], names?: readonly string[]): TokenizeOptions | undefined {
  const name = (i: number) => names?.[i] ?? `component ${i + 1}`;
  let first = -1;
  for (let i = 0; i < models.length; i++) {
    const text = models[i]!.text;
    if (!text) continue;
    if (first < 0) first = i;
    else if (!sameTextOptions(text, models[first]!.text!)) {
      throw new KotobaError(
        `${name(first)} reads text with ${describeTextOptions(models[first]!.text!)} but ${name(i)} with ${describeTextOptions(text)}: a mixture needs one way of splitting text into words`,
        'mix models trained on text read the same way',
      );
    }
  }
  return first < 0 ? undefined : models[first]!.text;
}

/**
 * log10 Σ_i 10^(a_i), without overflow or underflow; -Infinity when every a_i is.
 *
 * @example
 * ```ts
 * // runs
 * import { log10SumExp10 } from 'kotoba';
 * const x = log10SumExp10(new Float64Array([-400, -400])); // -399.699: 10^-400 underflows, this does not
 * if (Math.abs(x - (-400 + Math.log10(2))) > 1e-9) throw new Error(String(x));
 * ```
 */
export function log10SumExp10(a: Float64Array, n = a.length): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (a[i]! > m) m = a[i]!;
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.pow(10, a[i]! - m);
  return m + Math.log10(s);
}

/**
 * A linear mixture of language models.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, MixtureModel, scoreSentence } from 'kotoba';
 * const text = ['the cat sat', 'the dog sat', 'a cat ran'];
 * const trigram = BackoffModel.fromTables(estimate(corpusFromText(text), { order: 3 }));
 * const bigram = BackoffModel.fromTables(estimate(corpusFromText(text), { order: 2, smoothing: 'wb' }));
 * const mix = new MixtureModel([trigram, bigram], [0.7, 0.3]);
 * const ids = ['the', 'cat', 'ran'].map((w) => mix.vocab.id(w));
 * console.log(scoreSentence(mix, ids).total); // log10 of Σ λ_i p_i, word by word
 * ```
 */
export class MixtureModel implements LanguageModel<unknown[]> {
  readonly vocab: Vocabulary;
  readonly description: string;
  /** The components' shared text options ({@link sharedTextOptions}), or those the mixture file records. */
  text: TokenizeOptions | undefined;
  readonly components: readonly LanguageModel<unknown>[];
  /** The weights λ_i (they sum to 1). */
  readonly weights: Float64Array;
  /** Present when every component has `distribution`. */
  readonly distribution?: (state: unknown[], out: Float64Array) => void;
  private readonly aligned: AlignedVocabularies;
  private readonly logWeights: Float64Array;
  private readonly terms: Float64Array;
  // Per-component scratch for scoreSentence and distribution, grown on demand.
  private ids: Uint32Array[];
  private lps: Float64Array[];
  private dists: Float64Array[] = [];

  constructor(components: readonly LanguageModel<unknown>[], weights?: ArrayLike<number>, aligned?: AlignedVocabularies) {
    const K = components.length;
    if (K === 0) throw new KotobaError('a mixture needs at least one model');
    this.components = components.slice();
    this.weights = checkWeights(weights ?? new Float64Array(K).fill(1 / K), K);
    this.logWeights = this.weights.map((w) => Math.log10(w));
    this.aligned = aligned ?? alignVocabularies(components.map((c) => c.vocab));
    this.vocab = this.aligned.vocab;
    this.text = sharedTextOptions(components);
    this.terms = new Float64Array(K);
    this.ids = components.map(() => new Uint32Array(64));
    this.lps = components.map(() => new Float64Array(64));
    const parts = components.map((c, i) => `${round(this.weights[i]!)} × (${c.description})`);
    this.description = `mixture of ${K} models: ${parts.join(' + ')}`;
    if (components.every((c) => c.distribution)) this.distribution = (state, out) => this.mixDistribution(state, out);
  }

  /**
   * The same components with other weights (the vocabulary maps are shared).
   *
   * @example
   * ```ts
   * import { corpusFromText, tuneWeights, type MixtureModel } from 'kotoba';
   * declare const mix: MixtureModel;
   * declare const devLines: string[];
   * const dev = corpusFromText(devLines, { vocab: mix.vocab });
   * const tuned = mix.withWeights(tuneWeights(mix, dev.tokens).weights);
   * ```
   */
  withWeights(weights: ArrayLike<number>): MixtureModel {
    const mix = new MixtureModel(this.components, weights, this.aligned);
    mix.text = this.text;
    return mix;
  }

  /**
   * Component `i`'s id for the mixture word `w` (`<unk>` where it lacks the word).
   *
   * @example
   * ```ts
   * import type { MixtureModel } from 'kotoba';
   * declare const mix: MixtureModel;
   * mix.componentId(1, mix.vocab.id('cat')); // the second model's id of 'cat', or 0 (<unk>)
   * ```
   */
  componentId(i: number, w: number): number {
    const to = this.aligned.toComponent[i];
    return to ? to[w]! : w;
  }

  /**
   * True when component `i` lacks the mixture word `w` (and so gives it probability 0).
   *
   * @example
   * ```ts
   * import type { MixtureModel } from 'kotoba';
   * declare const mix: MixtureModel;
   * mix.lacks(0, mix.vocab.id('cat')); // false when the first model knows 'cat'
   * ```
   */
  lacks(i: number, w: number): boolean {
    const a = this.aligned.absent[i];
    return a !== null && a !== undefined && a[w] === 1 && w !== UNK;
  }

  begin(): unknown[] {
    return this.components.map((c) => c.begin());
  }

  score(state: unknown[], word: number): Scored<unknown[]> {
    const K = this.components.length;
    const next = new Array<unknown>(K);
    const terms = this.terms;
    for (let i = 0; i < K; i++) {
      const r = this.components[i]!.score(state[i], this.componentId(i, word));
      next[i] = r.next;
      terms[i] = this.lacks(i, word) ? -Infinity : this.logWeights[i]! + r.log10;
    }
    return { log10: log10SumExp10(terms, K), next };
  }

  /**
   * log10 p_i of each word of a sentence (mixture ids, from `<s>`) under component `i` alone,
   * -Infinity where it lacks the word. Writes `out[0..n)`.
   *
   * @example
   * ```ts
   * import type { MixtureModel } from 'kotoba';
   * declare const mix: MixtureModel;
   * const words = Uint32Array.from(['the', 'cat', '</s>'], (w) => mix.vocab.id(w));
   * const out = new Float64Array(words.length);
   * mix.componentLog10(0, words, out); // the first model's log10 p of each word
   * ```
   */
  componentLog10(i: number, words: Uint32Array, out: Float64Array): void {
    const c = this.components[i]!;
    const n = words.length;
    const to = this.aligned.toComponent[i];
    let ids = words;
    if (to) {
      if (this.ids[i]!.length < n) this.ids[i] = new Uint32Array(2 * n);
      ids = this.ids[i]!.subarray(0, n);
      for (let j = 0; j < n; j++) ids[j] = to[words[j]!]!;
    }
    if (c.scoreSentence) c.scoreSentence(ids, out);
    else {
      let state = c.begin();
      for (let j = 0; j < n; j++) {
        const r = c.score(state, ids[j]!);
        out[j] = r.log10;
        state = r.next;
      }
    }
    if (to) for (let j = 0; j < n; j++) if (this.lacks(i, words[j]!)) out[j] = -Infinity;
  }

  scoreSentence(words: Uint32Array, log10Out: Float64Array): number {
    const K = this.components.length;
    const n = words.length;
    for (let i = 0; i < K; i++) {
      if (this.lps[i]!.length < n) this.lps[i] = new Float64Array(2 * n);
      this.componentLog10(i, words, this.lps[i]!);
    }
    const terms = this.terms;
    let total = 0;
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < K; i++) terms[i] = this.logWeights[i]! + this.lps[i]![j]!;
      const lp = log10SumExp10(terms, K);
      log10Out[j] = lp;
      total = Math.fround(total + lp);
    }
    return total;
  }

  private mixDistribution(state: unknown[], out: Float64Array): void {
    const V = this.vocab.size;
    out.fill(0, 0, V);
    for (let i = 0; i < this.components.length; i++) {
      const c = this.components[i]!;
      const Vi = c.vocab.size;
      if (!this.dists[i] || this.dists[i]!.length < Vi) this.dists[i] = new Float64Array(Vi);
      const d = this.dists[i]!;
      c.distribution!(state[i], d);
      const lambda = this.weights[i]!;
      const from = this.aligned.fromComponent[i];
      if (from) for (let w = 0; w < Vi; w++) out[from[w]!] += lambda * d[w]!;
      else for (let w = 0; w < Vi; w++) out[w] += lambda * d[w]!;
    }
    out[BOS] = 0;
  }
}

function round(x: number): string {
  return String(Math.round(x * 1e4) / 1e4);
}


/** One EM iteration: the weights it evaluated and their fit on the development text. */
export interface EmIteration {
  iteration: number;
  weights: number[];
  /** Σ log10 p over the development tokens (those with p > 0). */
  log10Likelihood: number;
  /** 10^(−log10Likelihood / tokens): development perplexity, OOVs and `</s>` included. */
  perplexity: number;
}

export interface EmOptions {
  /** Starting weights (default: uniform). A weight of 0 stays 0. */
  initial?: ArrayLike<number>;
  /** At most this many iterations (default 500). */
  maxIterations?: number;
  /** Stop when an iteration gains less than this in log10 likelihood per token (default 1e-7). */
  tolerance?: number;
  /** Called after each iteration (for progress output). */
  onIteration?: (it: EmIteration) => void;
}

export interface EmResult {
  /** The tuned weights: those of the last iteration reported. */
  weights: number[];
  iterations: EmIteration[];
  converged: boolean;
  /** Tokens used: words and `</s>` of every sentence, with p > 0 under the mixture. */
  tokens: number;
  /** Tokens every component gives probability 0 (left out: no weights can help them). */
  zeroProbability: number;
}

/**
 * The probability of every development token under every component: a K × N matrix
 * (component-major). `tokens` is a `<s> w… </s>` stream in the mixture's ids.
 *
 * @example
 * ```ts
 * import { componentProbabilities, type Corpus, type MixtureModel } from 'kotoba';
 * declare const mix: MixtureModel;
 * declare const devCorpus: Corpus; // read with { vocab: mix.vocab }
 * const { probs, n } = componentProbabilities(mix, devCorpus.tokens);
 * probs[1 * n + 5]; // p_1 of the 6th scored token
 * ```
 */
export function componentProbabilities(mix: MixtureModel, tokens: Uint32Array): { probs: Float64Array; n: number } {
  const K = mix.components.length;
  let n = 0;
  for (let t = 0; t < tokens.length; t++) if (tokens[t] !== BOS) n++;
  const probs = new Float64Array(K * n);
  let lp = new Float64Array(256);
  let at = 0;
  for (let i = 0; i < tokens.length; ) {
    if (tokens[i] !== BOS) throw new KotobaError('internal: development tokens must be <s> … </s> sentences');
    let end = i + 1;
    while (end < tokens.length && tokens[end] !== EOS) end++;
    const words = tokens.subarray(i + 1, end + 1);
    if (lp.length < words.length) lp = new Float64Array(2 * words.length);
    for (let k = 0; k < K; k++) {
      mix.componentLog10(k, words, lp);
      const row = k * n + at;
      for (let j = 0; j < words.length; j++) probs[row + j] = Math.pow(10, lp[j]!);
    }
    at += words.length;
    i = end + 1;
  }
  return { probs, n };
}

/**
 * Tunes the mixture weights by EM to maximise the likelihood of a development text (`<s> … </s>`
 * token stream in the mixture's ids). Each iteration cannot lower the likelihood; it stops when
 * the gain per token falls below the tolerance.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, MixtureModel, tuneWeights } from 'kotoba';
 * const text = ['the cat sat', 'the dog sat', 'a cat ran'];
 * const mix = new MixtureModel([1, 2].map((order) => BackoffModel.fromTables(estimate(corpusFromText(text), { order }))));
 * const dev = corpusFromText(['the cat sat', 'a dog ran'], { vocab: mix.vocab });
 * const { weights, iterations } = tuneWeights(mix, dev.tokens);
 * const tuned = mix.withWeights(weights);
 * for (const it of iterations) console.log(it.iteration, it.weights, it.perplexity);
 * ```
 */
export function tuneWeights(mix: MixtureModel, tokens: Uint32Array, options: EmOptions = {}): EmResult {
  const K = mix.components.length;
  const { probs, n } = componentProbabilities(mix, tokens);
  let w = checkWeights(options.initial ?? new Float64Array(K).fill(1 / K), K);
  const maxIterations = options.maxIterations ?? 500;
  const tolerance = options.tolerance ?? 1e-7;
  const iterations: EmIteration[] = [];
  const acc = new Float64Array(K);
  let zero = 0;
  let counted = 0;
  let converged = false;
  for (let it = 0; it <= maxIterations; it++) {
    // E step: posterior responsibility of each component for each token; and the likelihood.
    acc.fill(0);
    let ll = 0;
    zero = 0;
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += w[k]! * probs[k * n + t]!;
      if (s === 0) {
        zero++;
        continue;
      }
      ll += Math.log10(s);
      for (let k = 0; k < K; k++) acc[k]! += (w[k]! * probs[k * n + t]!) / s;
    }
    counted = n - zero;
    const record: EmIteration = { iteration: it, weights: Array.from(w), log10Likelihood: ll, perplexity: Math.pow(10, -ll / counted) };
    iterations.push(record);
    options.onIteration?.(record);
    if (it > 0 && (ll - iterations[it - 1]!.log10Likelihood) / counted < tolerance) {
      converged = true;
      break;
    }
    if (it === maxIterations || counted === 0) break;
    // M step: the new weight is the mean responsibility.
    const next = new Float64Array(K);
    for (let k = 0; k < K; k++) next[k] = acc[k]! / counted;
    w = next;
  }
  return { weights: iterations[iterations.length - 1]!.weights, iterations, converged, tokens: counted, zeroProbability: zero };
}
