/**
 * A mixture of backoff n-gram models written as one backoff model (SRILM's
 * `ngram -mix-lm … -write-lm`, "static" interpolation):
 *
 *   1. n-grams    the union of the components' n-grams (every order), closed under prefixes
 *   2. probs      each listed n-gram h·w gets Σ_i λ_i p_i(w | h), each p_i by its own backoff
 *   3. backoffs   per context h, lowest order first:
 *                   bow(h) = (1 − Σ_{w: hw listed} p(w | h)) / (1 − Σ_{w: hw listed} p'(w | h'))
 *                 where p' is the new model's own (backed-off) estimate and h' is h without its
 *                 first word, so every distribution of the new model sums to 1.
 *
 * The result equals the mixture exactly wherever the new model finds the full n-gram (listed in
 * some component), and at every unigram. Where it backs off it is an approximation: the
 * mixture's Σ_i λ_i bow_i(h) p_i(w | h') is not a single bow(h) times a mixed lower order. The
 * dynamic mixture ({@link MixtureModel}) is exact everywhere; this file trades that for one
 * ordinary ARPA file that KenLM, SRILM and kotoba read.
 */
import { KotobaError } from '../errors.js';
import type { BackoffModel } from './model.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';
import { BOS } from '../text/vocabulary.js';
import { alignVocabularies, checkWeights } from '../util/mixing.js';

/** Rows of one order, sorted lexicographically, with a binary search over them. */
class SortedRows {
  constructor(
    readonly order: number,
    readonly words: Uint32Array,
    readonly size: number,
  ) {}

  /**
   * Index of the row equal to `key[from..to)` followed by `last` (omit `last`: the row is
   * key[from..to) alone), or -1.
   */
  find(key: Uint32Array, from: number, to: number, last = -1): number {
    const k = this.order;
    const words = this.words;
    let lo = 0;
    let hi = this.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const base = mid * k;
      let c = 0;
      for (let j = 0; j < k && c === 0; j++) {
        const x = words[base + j]!;
        const y = from + j < to ? key[from + j]! : last;
        c = x < y ? -1 : x > y ? 1 : 0;
      }
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

/** Sorts rows of `k` words and drops duplicates. */
function sortUnique(words: Uint32Array, k: number): Uint32Array {
  const n = words.length / k;
  const index = new Uint32Array(n);
  for (let i = 0; i < n; i++) index[i] = i;
  index.sort((a, b) => {
    for (let j = 0; j < k; j++) {
      const d = words[a * k + j]! - words[b * k + j]!;
      if (d !== 0) return d;
    }
    return 0;
  });
  const out = new Uint32Array(words.length);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const r = index[i]!;
    if (m > 0) {
      let same = true;
      for (let j = 0; j < k && same; j++) same = out[(m - 1) * k + j] === words[r * k + j];
      if (same) continue;
    }
    for (let j = 0; j < k; j++) out[m * k + j] = words[r * k + j]!;
    m++;
  }
  return out.slice(0, m * k);
}

/**
 * log10 p(w | context[from..to)) under a backoff model, by the ARPA recursion: the n-gram's
 * own probability if listed, else the context's backoff plus the shorter context's estimate.
 */
function backoffLog10(model: BackoffModel, context: Uint32Array, from: number, to: number, w: number): number {
  let acc = 0;
  for (let f = from; f < to; f++) {
    // Find the context f..to, then its extension by w.
    let h = context[f]!;
    for (let j = f + 1; j < to && h >= 0; j++) h = model.find(h, context[j]!);
    if (h < 0) continue; // unlisted context: backoff weight 1
    const n = model.find(h, w);
    if (n >= 0) return acc + model.log10Prob(n);
    acc += model.log10Backoff(h);
  }
  return acc + model.log10Prob(w);
}

export interface MixArpaOptions {
  /** Progress messages. */
  info?: (message: string) => void;
}

/**
 * The static mixture of backoff n-gram models as tables (write them with `writeArpa` or
 * `saveNgramModel`). Components with weight 0 are left out.
 *
 * @example
 * ```ts
 * // runs
 * import { arpaText, BackoffModel, corpusFromText, estimate, mixNgramTables } from 'kotoba';
 * const text = ['the cat sat', 'the dog sat', 'a cat ran'];
 * const trigram = BackoffModel.fromTables(estimate(corpusFromText(text), { order: 3 }));
 * const bigram = BackoffModel.fromTables(estimate(corpusFromText(text), { order: 2, smoothing: 'wb' }));
 * const tables = mixNgramTables([trigram, bigram], [0.7, 0.3]);
 * const merged = BackoffModel.fromTables(tables); // one model, close to the mixture
 * console.log((await arpaText(tables)).split('\n').slice(0, 5).join('\n'), merged.order);
 * ```
 */
export function mixNgramTables(models: readonly BackoffModel[], weights: ArrayLike<number>, options: MixArpaOptions = {}): NgramTables {
  const lambda = checkWeights(weights, models.length);
  const used = models.map((_, i) => i).filter((i) => lambda[i]! > 0);
  if (used.length === 0) throw new KotobaError('every mixture weight is 0');
  const { vocab, toComponent, fromComponent, absent } = alignVocabularies(models.map((m) => m.vocab));
  const V = vocab.size;
  const N = Math.max(...used.map((i) => models[i]!.order));
  const comps = used.map((i) => ({
    model: models[i]!,
    lambda: lambda[i]!,
    to: toComponent[i]!,
    from: fromComponent[i]!,
    absent: absent[i]!,
    tables: models[i]!.toTables(),
  }));
  const info = options.info ?? (() => {});

  info('=== 1/3 union of n-grams ===');
  const rows: SortedRows[] = new Array(N + 1);
  let prefixes: Uint32Array | null = null; // (k)-word prefixes of the order-(k+1) rows
  for (let k = N; k >= 2; k--) {
    const parts: Uint32Array[] = [];
    for (const c of comps) {
      if (c.tables.orders.length < k) continue;
      const t = c.tables.orders[k - 1]!;
      parts.push(c.from ? t.words.map((id) => c.from[id]!) : t.words);
    }
    if (prefixes) parts.push(prefixes);
    const all = new Uint32Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    const words = sortUnique(all, k);
    const size = words.length / k;
    rows[k] = new SortedRows(k, words, size);
    prefixes = new Uint32Array(size * (k - 1));
    for (let r = 0; r < size; r++) for (let j = 0; j < k - 1; j++) prefixes[r * (k - 1) + j] = words[r * k + j]!;
    if (k > 2) prefixes = sortUnique(prefixes, k - 1);
  }
  const uni = new Uint32Array(V);
  for (let w = 0; w < V; w++) uni[w] = w;
  rows[1] = new SortedRows(1, uni, V);

  info('=== 2/3 interpolated probabilities ===');
  // probs[k][r]: the mixture's p of row r of order k (a probability, float64).
  const probs: Float64Array[] = new Array(N + 1);
  const ctx = new Uint32Array(N);
  for (let k = 1; k <= N; k++) {
    const R = rows[k]!;
    const p = new Float64Array(R.size);
    for (let r = 0; r < R.size; r++) {
      const w = R.words[r * k + k - 1]!;
      let s = 0;
      for (const c of comps) {
        if (c.absent && c.absent[w] && w !== 0) continue;
        for (let j = 0; j < k - 1; j++) {
          const u = R.words[r * k + j]!;
          ctx[j] = c.to ? c.to[u]! : u;
        }
        const wc = c.to ? c.to[w]! : w;
        s += c.lambda * Math.pow(10, backoffLog10(c.model, ctx, 0, k - 1, wc));
      }
      p[r] = s;
    }
    probs[k] = p;
  }

  info('=== 3/3 backoff weights ===');
  // bows[k][r]: backoff weight (a factor) of row r of order k as a context.
  const bows: Float64Array[] = new Array(N + 1);
  for (let k = 1; k <= N; k++) bows[k] = new Float64Array(rows[k]!.size).fill(1);
  // p'(w | key[from..to)) under the new model, with the backoffs known so far.
  const newProb = (key: Uint32Array, from: number, to: number, w: number): number => {
    let factor = 1;
    for (let f = from; f < to; f++) {
      const m = to - f;
      const n = rows[m + 1]!.find(key, f, to, w);
      if (n >= 0) return factor * probs[m + 1]![n]!;
      const h = rows[m]!.find(key, f, to);
      if (h >= 0) factor *= bows[m]![h]!;
    }
    return factor * probs[1]![w]!;
  };
  const key = new Uint32Array(N);
  for (let k = 1; k < N; k++) {
    const C = rows[k]!;
    const R = rows[k + 1]!;
    const num = new Float64Array(C.size);
    const den = new Float64Array(C.size);
    let lastContext = -1;
    for (let r = 0; r < R.size; r++) {
      for (let j = 0; j <= k; j++) key[j] = R.words[r * (k + 1) + j]!;
      // Rows are sorted, so children of one context are adjacent: look the context up once.
      if (lastContext < 0 || !sameContext(R, r, k)) lastContext = C.find(key, 0, k);
      if (lastContext < 0) throw new KotobaError('internal: the n-gram union is not closed under prefixes');
      num[lastContext]! += probs[k + 1]![r]!;
      den[lastContext]! += newProb(key, 1, k, key[k]!);
    }
    const bow = bows[k]!;
    for (let h = 0; h < C.size; h++) {
      if (num[h] === 0) continue; // no children: backoff weight 1
      const a = 1 - num[h]!;
      const b = 1 - den[h]!;
      // Rounding can leave nothing (or less than nothing) for unlisted words; then none get any.
      bow[h] = a > 1e-12 && b > 1e-12 ? a / b : a > 1e-12 ? 1 : 0;
    }
  }

  const orders: NgramOrderTable[] = [];
  for (let k = 1; k <= N; k++) {
    const R = rows[k]!;
    const t = emptyOrder(k, R.size);
    t.words.set(R.words.subarray(0, R.size * k));
    const p = probs[k]!;
    const b = bows[k]!;
    for (let r = 0; r < R.size; r++) {
      t.log10Prob[r] = Math.log10(p[r]!);
      t.log10Backoff[r] = k < N ? Math.log10(b[r]!) : 0;
    }
    orders.push(t);
  }
  // <s> is context only: keep the components' convention of log10 p(<s>) (0 in KenLM's files).
  orders[0]!.log10Prob[BOS] = Math.log10(probs[1]![BOS]!);
  const desc = used.map((i) => `${Math.round(lambda[i]! * 1e4) / 1e4} × (${models[i]!.description})`).join(' + ');
  return { vocab, orders, description: `static mixture: ${desc}` };
}

function sameContext(R: SortedRows, r: number, k: number): boolean {
  if (r === 0) return false;
  const K = k + 1;
  for (let j = 0; j < k; j++) if (R.words[r * K + j] !== R.words[(r - 1) * K + j]) return false;
  return true;
}
