/**
 * What every mixture needs, whatever its components: the union of their vocabularies, and
 * checked weights. Below the model families, for the mixture of any models (apps/mixture.ts) and
 * for n-gram mixtures written as one ARPA file (ngram/mixture-arpa.ts).
 */
import { KotobaError } from '../errors.js';
import { Vocabulary } from '../text/vocabulary.js';

/** How the components' vocabularies sit in the union vocabulary. */
export interface AlignedVocabularies {
  vocab: Vocabulary;
  /** Per component: union id → component id (`<unk>` where it lacks the word); null when identical. */
  toComponent: (Uint32Array | null)[];
  /** Per component: component id → union id; null when identical. */
  fromComponent: (Uint32Array | null)[];
  /** Per component: 1 where the component lacks the union word (it gives it p = 0); null when identical. */
  absent: (Uint8Array | null)[];
}

/**
 * The union of vocabularies and the maps between them.
 *
 * @example
 * ```ts
 * // runs
 * import { alignVocabularies, Vocabulary } from 'kotoba';
 * const { vocab, toComponent } = alignVocabularies([Vocabulary.fromWords(['dog']), Vocabulary.fromWords(['cat', 'dog'])]);
 * if (toComponent[1]?.[vocab.id('dog')] !== 4) throw new Error("the second vocabulary's id of 'dog'");
 * ```
 */
export function alignVocabularies(vocabs: readonly Vocabulary[]): AlignedVocabularies {
  if (vocabs.length === 0) throw new KotobaError('a mixture needs at least one model');
  const first = vocabs[0]!;
  const firstWords = first.list();
  const same = (v: Vocabulary): boolean => {
    if (v === first) return true;
    if (v.size !== first.size) return false;
    const words = v.list();
    for (let i = 0; i < words.length; i++) if (words[i] !== firstWords[i]) return false;
    return true;
  };
  if (vocabs.every(same)) {
    return { vocab: first, toComponent: vocabs.map(() => null), fromComponent: vocabs.map(() => null), absent: vocabs.map(() => null) };
  }
  const vocab = new Vocabulary();
  for (const v of vocabs) for (const w of v.list()) vocab.add(w);
  vocab.closed = true;
  const V = vocab.size;
  const toComponent: (Uint32Array | null)[] = [];
  const fromComponent: (Uint32Array | null)[] = [];
  const absent: (Uint8Array | null)[] = [];
  for (const v of vocabs) {
    const to = new Uint32Array(V); // 0 = UNK by default
    const miss = new Uint8Array(V).fill(1);
    const from = new Uint32Array(v.size);
    const words = v.list();
    for (let c = 0; c < words.length; c++) {
      const u = vocab.id(words[c]!);
      from[c] = u;
      to[u] = c;
      miss[u] = 0;
    }
    toComponent.push(to);
    fromComponent.push(from);
    absent.push(miss);
  }
  return { vocab, toComponent, fromComponent, absent };
}

/**
 * Validates weights: K non-negative finite numbers summing to 1 (within 1e-6; then renormalised).
 *
 * @example
 * ```ts
 * // runs
 * import { checkWeights, KotobaError } from 'kotoba';
 * checkWeights([0.7, 0.3], 2); // Float64Array [0.7, 0.3]
 * try {
 *   checkWeights([0.7, 0.4], 2);
 *   throw new Error('not reached');
 * } catch (e) {
 *   if (!(e instanceof KotobaError)) throw e; // mixture weights sum to 1.1, not 1
 * }
 * ```
 */
export function checkWeights(weights: ArrayLike<number>, K: number): Float64Array {
  if (weights.length !== K) throw new KotobaError(`${weights.length} weights for ${K} models`, 'give one weight per model');
  const w = Float64Array.from(weights);
  let sum = 0;
  for (const x of w) {
    if (!Number.isFinite(x) || x < 0) throw new KotobaError(`mixture weight ${x} is not a number ≥ 0`, 'weights are probabilities, e.g. 0.7 0.3');
    sum += x;
  }
  if (Math.abs(sum - 1) > 1e-6) throw new KotobaError(`mixture weights sum to ${sum}, not 1`, 'give weights that sum to 1, e.g. 0.7 0.3');
  for (let i = 0; i < K; i++) w[i] = w[i]! / sum;
  return w;
}
