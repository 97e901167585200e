/**
 * Smoothing, NLTK's way: each smoother only supplies, for an n-gram h·w, the discounted mass
 * α(h, w) and, for its context h, the leftover mass γ(h); one interpolation recursion does the
 * rest: p(w | h) = α(h, w) + γ(h) · p(w | h'), where h' drops the oldest word, down to an order-0
 * base (uniform over the words that can be predicted). A new smoother is a few lines.
 *
 * Modified Kneser-Ney computes in float32, operation for operation as KenLM's lmplz does, so
 * its ARPA values are KenLM's.
 */
import { KotobaError } from '../errors.js';

/** Sums over the children of each context (per context index). */
export interface ContextStats {
  /** Σ_w c(h w). */
  total: Float64Array;
  /** N1+(h •): number of distinct words seen after h. */
  distinct: Uint32Array;
  /** N1, N2, N3+ (h •): words seen exactly once, twice, three or more times after h. */
  n1: Uint32Array;
  n2: Uint32Array;
  n3: Uint32Array;
  /**
   * 1 where the context starts with `<s>`: it cannot be extended to the left, so it is as long
   * as a history there gets (a "full" context, like those of the top order).
   */
  startsWithBos: Uint8Array;
}

/** What a smoother's `prepare` is given: the model's order, vocabulary size and count-of-counts. */
export interface SmootherContext {
  /** Highest order of the model. */
  order: number;
  /** Vocabulary size, `<unk>`, `<s>` and `</s>` included. */
  vocabSize: number;
  /** Count-of-counts n[0..4] per order over the counts this smoother uses. */
  countOfCounts: Float64Array[];
  warn: (message: string) => void;
  info: (message: string) => void;
}

/**
 * A smoothing method, NLTK's way: the discounted mass α(h, w) of each seen n-gram and the
 * leftover mass γ(h) of each context; `estimate` does the interpolation.
 *
 * @example
 * ```ts
 * // runs
 * import { corpusFromText, estimate, uniform, type Smoother } from 'kotoba';
 * const fixed: Smoother = {
 *   name: 'interpolated, λ = 0.8', counts: 'raw', float32: false, prepare() {}, base: uniform,
 *   alpha: (_order, count, stats, h) => (0.8 * count) / stats.total[h],
 *   gamma: () => 0.2,
 * };
 * const tables = estimate(corpusFromText(['a b c', 'a c b']), { order: 2, smoothing: fixed });
 * ```
 */
export interface Smoother {
  readonly name: string;
  /** Kneser-Ney smoothers use continuation (adjusted) counts below the top order. */
  readonly counts: 'raw' | 'adjusted';
  /** Arithmetic in float32, rounding after every operation (KenLM's way). */
  readonly float32: boolean;
  prepare(ctx: SmootherContext): void;
  /** α(h, w) for an n-gram of order `order` seen `count` times after context `h`. */
  alpha(order: number, count: number, stats: ContextStats, h: number): number;
  /** γ(h) for a context of order `order − 1`, where `order` is the order of its children. */
  gamma(order: number, stats: ContextStats, h: number): number;
  /** The order-0 probability of every predictable word (uniform), or 0 for none. */
  base(vocabSize: number): number;
}

const f = Math.fround;

/**
 * Uniform over every word but `<s>` (KenLM: 1/(|V|−1), `<unk>` and `</s>` included).
 *
 * @example
 * ```ts
 * // runs
 * import { uniform } from 'kotoba';
 * uniform(10); // 1/9: ten ids, <s> never predicted
 * ```
 */
export function uniform(vocabSize: number): number {
  return 1 / (vocabSize - 1);
}

/** Modified Kneser-Ney discounts D1, D2, D3+ of one order (float32, Chen & Goodman eq. 26). */
export interface Discounts {
  d: Float32Array; // [0, D1, D2, D3+]
  fallback: boolean;
}

/** The discounts D1, D2, D3+ used when they cannot be estimated (lmplz `--discount_fallback`). */
export const FALLBACK_DISCOUNTS = [0.5, 1, 1.5] as const;

/**
 * Discounts from count-of-counts, or the fallback (0.5, 1, 1.5, as lmplz
 * `--discount_fallback`) with the reason when they cannot be estimated.
 *
 * @example
 * ```ts
 * // runs
 * import { kneserNeyDiscounts } from 'kotoba';
 * kneserNeyDiscounts(Float64Array.of(0, 10, 5, 3, 2)).d; // [0, 0.5, 1.1, 1.67] in float32: n[1..4] are N1..N4
 * const small = kneserNeyDiscounts(Float64Array.of(0, 10, 0, 3, 2));
 * small.fallback; // true; small.reason says no n-grams have count 2
 * ```
 */
export function kneserNeyDiscounts(n: Float64Array, fallback: readonly number[] = FALLBACK_DISCOUNTS): Discounts & { reason?: string } {
  const d = new Float32Array(4);
  for (let j = 1; j < 4; j++) {
    if (n[j] === 0) {
      return {
        ...fallbackDiscounts(fallback),
        reason: `no n-grams with adjusted count ${j}, so the discount for count ${j + 1} cannot be estimated`,
      };
    }
  }
  const y = f(f(n[1]!) / f(n[1]! + 2.0 * n[2]!));
  for (let j = 1; j < 4; j++) {
    d[j] = f(f(j) - f(f(f(f(j + 1) * y) * f(n[j + 1]!)) / f(n[j]!)));
    if (d[j]! < 0 || d[j]! > j) {
      return { ...fallbackDiscounts(fallback), reason: `the discount for count ${j} came out as ${d[j]}, outside [0, ${j}]` };
    }
  }
  return { d, fallback: false };
}

function fallbackDiscounts(values: readonly number[]): Discounts {
  const d = new Float32Array(4);
  for (let j = 1; j < 4; j++) d[j] = f(values[j - 1]!);
  return { d, fallback: true };
}

/**
 * Interpolated modified Kneser-Ney, exactly as KenLM's lmplz estimates it.
 *
 * @example
 * ```ts
 * import { estimate, ModifiedKneserNey, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * const mkn = new ModifiedKneserNey(undefined, [0.7, 1, 1.3]); // own fallback discounts for small data
 * const tables = estimate(corpus, { order: 4, smoothing: mkn });
 * mkn.discounts.map((x) => x.fallback); // which orders fell back
 * ```
 */
export class ModifiedKneserNey implements Smoother {
  readonly name = 'modified Kneser-Ney';
  readonly counts = 'adjusted';
  readonly float32 = true;
  discounts: Discounts[] = [];
  constructor(
    private readonly fixed?: number[][],
    private readonly fallback: readonly number[] = FALLBACK_DISCOUNTS,
  ) {}

  prepare(ctx: SmootherContext): void {
    this.discounts = ctx.countOfCounts.map((n, i) => {
      const given = this.fixed?.[i];
      if (given) return fallbackDiscounts(given);
      const r = kneserNeyDiscounts(n, this.fallback);
      if (r.fallback) {
        ctx.warn(
          `modified Kneser-Ney discounts for ${i + 1}-grams cannot be estimated from this corpus (${r.reason}; ` +
            `small or artificial data?); using fallback discounts D1=${this.fallback[0]} D2=${this.fallback[1]} ` +
            `D3+=${this.fallback[2]}, as lmplz --discount_fallback does`,
        );
      }
      return r;
    });
    ctx.info(
      this.discounts
        .map((x, i) => `${i + 1}-gram discounts D1=${x.d[1]} D2=${x.d[2]} D3+=${x.d[3]}${x.fallback ? ' (fallback)' : ''}`)
        .join('; '),
    );
  }

  alpha(order: number, count: number, stats: ContextStats, h: number): number {
    const d = this.discounts[order - 1]!.d;
    return f(f(f(count) - d[Math.min(count, 3)]!) / f(stats.total[h]!));
  }

  gamma(order: number, stats: ContextStats, h: number): number {
    const d = this.discounts[order - 1]!.d;
    let g = 0;
    g = f(g + f(d[1]! * f(stats.n1[h]!)));
    g = f(g + f(d[2]! * f(stats.n2[h]!)));
    g = f(g + f(d[3]! * f(stats.n3[h]!)));
    return f(g / f(stats.total[h]!));
  }

  base(vocabSize: number): number {
    return f(1.0 / f(vocabSize - 1));
  }
}

/**
 * Interpolated Witten-Bell: γ(h) = N1+(h•) / (c(h) + N1+(h•)).
 *
 * @example
 * ```ts
 * import { estimate, WittenBell, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * const tables = estimate(corpus, { order: 3, smoothing: new WittenBell() }); // as smoothing: 'wb'
 * ```
 */
export class WittenBell implements Smoother {
  readonly name = 'Witten-Bell';
  readonly counts = 'raw';
  readonly float32 = false;
  prepare(): void {}
  alpha(_order: number, count: number, s: ContextStats, h: number): number {
    return count / (s.total[h]! + s.distinct[h]!);
  }
  gamma(_order: number, s: ContextStats, h: number): number {
    return s.distinct[h]! / (s.total[h]! + s.distinct[h]!);
  }
  base = uniform;
}

/**
 * Interpolated absolute discounting: α = max(c − D, 0) / c(h), γ = D · N1+(h•) / c(h).
 *
 * @example
 * ```ts
 * import { AbsoluteDiscounting, estimate, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * const estimated = estimate(corpus, { order: 3, smoothing: new AbsoluteDiscounting() }); // D = n1 / (n1 + 2 n2)
 * const fixed = estimate(corpus, { order: 3, smoothing: 'abs', smoothingOptions: { discount: 0.7 } });
 * ```
 */
export class AbsoluteDiscounting implements Smoother {
  readonly name = 'absolute discounting';
  readonly counts = 'raw';
  readonly float32 = false;
  discounts: number[] = [];
  constructor(private readonly fixed?: number) {}
  prepare(ctx: SmootherContext): void {
    this.discounts = ctx.countOfCounts.map((n, i) => {
      if (this.fixed !== undefined) return this.fixed;
      // Ney, Essen & Kneser (1994): D = n1 / (n1 + 2 n2).
      if (n[1]! + 2 * n[2]! === 0 || n[1] === 0) {
        ctx.warn(`absolute discount for ${i + 1}-grams cannot be estimated (no singletons); using D=0.5`);
        return 0.5;
      }
      return n[1]! / (n[1]! + 2 * n[2]!);
    });
    ctx.info(this.discounts.map((d, i) => `${i + 1}-gram discount D=${d.toFixed(6)}`).join('; '));
  }
  alpha(order: number, count: number, s: ContextStats, h: number): number {
    return Math.max(count - this.discounts[order - 1]!, 0) / s.total[h]!;
  }
  gamma(order: number, s: ContextStats, h: number): number {
    return (this.discounts[order - 1]! * s.distinct[h]!) / s.total[h]!;
  }
  base = uniform;
}

/**
 * Additive (Lidstone; Laplace when δ = 1): p(w | h) = (c(h w) + δ) / (c(h) + δ·V) for full
 * histories — those of the top order, and the shorter ones that start at `<s>` — with V the
 * number of predictable words; an unseen history gets the uniform 1/V. Other lower orders only
 * pass through, so the same tables serve as a backoff model.
 *
 * @example
 * ```ts
 * import { Additive, estimate, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * const laplace = estimate(corpus, { order: 2, smoothing: new Additive() }); // δ = 1
 * const lidstone = estimate(corpus, { order: 2, smoothing: new Additive(0.1) });
 * ```
 */
export class Additive implements Smoother {
  readonly name: string;
  readonly counts = 'raw';
  readonly float32 = false;
  private top = 1;
  private V = 1;
  constructor(readonly delta = 1) {
    if (!(delta > 0)) throw new KotobaError(`additive smoothing needs δ > 0, not ${delta}`, 'pass e.g. --delta 0.5');
    this.name = delta === 1 ? 'additive (Laplace)' : `additive (Lidstone, δ=${delta})`;
  }
  prepare(ctx: SmootherContext): void {
    this.top = ctx.order;
    this.V = ctx.vocabSize - 1;
  }
  alpha(order: number, count: number, s: ContextStats, h: number): number {
    return order === this.top || s.startsWithBos[h] ? count / (s.total[h]! + this.delta * this.V) : 0;
  }
  gamma(order: number, s: ContextStats, h: number): number {
    return order === this.top || s.startsWithBos[h] ? (this.delta * this.V) / (s.total[h]! + this.delta * this.V) : 1;
  }
  base = uniform;
}

/**
 * Jelinek-Mercer: p(w | h) = λ·c(h w)/c(h) + (1 − λ)·p(w | h'), with an unknown-word floor
 * (1 − λ1)/V at the bottom (V = `vocabularySize`, 1,000,000 in Neubig's tutorial; by default the
 * predictable vocabulary, so that the distribution sums to 1).
 *
 * @example
 * ```ts
 * import { estimate, JelinekMercer, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * // Neubig's tutorial unigram model: λ1 = 0.95, unknown words share 0.05 over a million words.
 * const tables = estimate(corpus, { order: 1, smoothing: new JelinekMercer([0.95], 1_000_000) });
 * ```
 */
export class JelinekMercer implements Smoother {
  readonly name = 'Jelinek-Mercer';
  readonly counts = 'raw';
  readonly float32 = false;
  constructor(
    private readonly lambdas: number[] = [0.95],
    private readonly vocabularySize?: number,
  ) {
    for (const l of lambdas) {
      if (!(l >= 0 && l <= 1)) throw new KotobaError(`Jelinek-Mercer λ must be in [0, 1], not ${l}`, 'pass e.g. --lambda 0.95');
    }
  }
  prepare(): void {}
  private lambda(order: number): number {
    return this.lambdas[Math.min(order, this.lambdas.length) - 1]!;
  }
  alpha(order: number, count: number, s: ContextStats, h: number): number {
    return (this.lambda(order) * count) / s.total[h]!;
  }
  gamma(order: number): number {
    return 1 - this.lambda(order);
  }
  base(vocabSize: number): number {
    return 1 / (this.vocabularySize ?? vocabSize - 1);
  }
}

/**
 * Maximum likelihood: p(w | h) = c(h w) / c(h); unseen events get probability 0.
 *
 * @example
 * ```ts
 * import { BackoffModel, estimate, MaximumLikelihood, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * const model = BackoffModel.fromTables(estimate(corpus, { order: 2, smoothing: new MaximumLikelihood() }));
 * // an unseen bigram scores log10 p = -Infinity (written as -99 in ARPA files)
 * ```
 */
export class MaximumLikelihood implements Smoother {
  readonly name = 'maximum likelihood';
  readonly counts = 'raw';
  readonly float32 = false;
  prepare(): void {}
  alpha(_order: number, count: number, s: ContextStats, h: number): number {
    return count / s.total[h]!;
  }
  gamma(): number {
    return 0;
  }
  base(): number {
    return 0;
  }
}

/** The smoothers' short names, as `estimate` and `--smoothing` take them. */
export const SMOOTHING_NAMES = ['mkn', 'wb', 'abs', 'add', 'jm', 'mle'] as const;
/** One of `SMOOTHING_NAMES`. */
export type SmoothingName = (typeof SMOOTHING_NAMES)[number];

/** Parameters of the smoothers that take them. */
export interface SmoothingOptions {
  /** Absolute discounting: a fixed discount D for every order (default: n1/(n1 + 2·n2) per order). */
  discount?: number;
  /** Additive δ. */
  delta?: number;
  /** Jelinek-Mercer λ, one per order (the last repeats). */
  lambda?: number[];
  /** Jelinek-Mercer unknown-word vocabulary size. */
  vocabularySize?: number;
}

/**
 * A smoother by its short name, with its parameters.
 *
 * @example
 * ```ts
 * // runs
 * import { createSmoother } from 'kotoba';
 * createSmoother('abs', { discount: 0.7 }).name; // 'absolute discounting'
 * createSmoother('jm', { lambda: [0.95, 0.9] }).name; // 'Jelinek-Mercer'
 * ```
 */
export function createSmoother(name: SmoothingName, options: SmoothingOptions = {}): Smoother {
  switch (name) {
    case 'mkn':
      return new ModifiedKneserNey();
    case 'wb':
      return new WittenBell();
    case 'abs':
      return new AbsoluteDiscounting(options.discount);
    case 'add':
      return new Additive(options.delta ?? 1);
    case 'jm':
      return new JelinekMercer(options.lambda, options.vocabularySize);
    case 'mle':
      return new MaximumLikelihood();
    default:
      throw new KotobaError(`unknown smoothing '${name as string}'`, `use one of ${SMOOTHING_NAMES.join(', ')}`);
  }
}
