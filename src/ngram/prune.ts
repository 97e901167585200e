/**
 * Relative-entropy pruning (Stolcke 1998, SRILM's `-prune θ`): drop each n-gram whose removal
 * raises the model's perplexity by less than the relative amount θ, highest order first, then
 * recompute every backoff weight so that each distribution still sums to 1:
 *
 *   α(h) = (1 − Σ_{w kept after h} p(w | h)) / (1 − Σ_{w kept after h} p(w | h'))
 *
 * For one candidate h·w, with num = 1 − Σ p(w|h) and den = 1 − Σ p(w|h') over the kept words,
 * α' = (num + p(w|h)) / (den + p(w|h')) and the cost is
 *   ΔH = P(h) · [ p(w|h) · (ln p(w|h) − ln p(w|h') − ln α') + num · (ln α − ln α') ]
 * and h·w goes when e^ΔH − 1 < θ. N-grams that other kept n-grams extend are never dropped.
 */
import { KotobaError } from '../errors.js';
import { BOS } from '../text/vocabulary.js';
import { BackoffModel } from './model.js';
import { emptyOrder, type NgramTables } from './tables.js';

const LN10 = Math.log(10);

/**
 * A pruned copy of `model`.
 *
 * @example
 * ```ts
 * import { pruneRelativeEntropy } from 'kotoba';
 * import { loadNgramModel, saveNgramModel } from 'kotoba/node';
 * const model = await loadNgramModel('wiki5.arpa');
 * const pruned = pruneRelativeEntropy(model, 1e-7); // as SRILM's ngram -prune 1e-7
 * console.log(model.counts, '→', pruned.counts);
 * await saveNgramModel('wiki5-pruned.kblm', pruned);
 * ```
 */
export function pruneRelativeEntropy(model: BackoffModel, threshold: number): BackoffModel {
  if (!(threshold >= 0)) throw new KotobaError(`pruning threshold must be ≥ 0, not ${threshold}`, 'e.g. --threshold 1e-8');
  const tables = model.toTables();
  const N = tables.orders.length;
  if (N < 2) return model;
  const ids = model.ordered; // ids[k-2]: the order-k n-grams, in table order
  // kept[k-2][i]: whether the i-th order-k n-gram stays.
  const kept = ids.map((o) => new Uint8Array(o.length).fill(1));
  const p = (id: number) => Math.pow(10, model.log10Prob(id));
  // p(w | h') for the backoff context h' of h (the suffix of h).
  const lowerProb = (h: number, w: number) => Math.pow(10, model.score(model.suffixOf(h) >= 0 ? model.suffixOf(h) : -1, w).log10);
  // Number of kept children per n-gram id, so that contexts of kept n-grams are never dropped.
  const keptChildren = new Map<number, number>();
  for (let k = 2; k <= N; k++) for (const id of ids[k - 2]!) bump(keptChildren, model.contextOf(id), 1);

  for (let k = N; k >= 2; k--) {
    const order = ids[k - 2]!;
    // Group the order-k n-grams by context.
    const byContext = new Map<number, number[]>();
    for (let i = 0; i < order.length; i++) {
      const h = model.contextOf(order[i]!);
      let list = byContext.get(h);
      if (!list) byContext.set(h, (list = []));
      list.push(i);
    }
    const drop: number[] = [];
    for (const [h, members] of byContext) {
      let sumP = 0;
      let sumLower = 0;
      for (const i of members) {
        const id = order[i]!;
        sumP += p(id);
        sumLower += lowerProb(h, model.lastWord(id));
      }
      const num = 1 - sumP;
      const den = 1 - sumLower;
      if (!(num > 0 && den > 0)) continue; // a context with no mass left for backing off (e.g. MLE)
      const alpha = num / den;
      const ph = historyProbability(model, h);
      for (const i of members) {
        const id = order[i]!;
        if ((keptChildren.get(id) ?? 0) > 0) continue;
        const pw = p(id);
        const pl = lowerProb(h, model.lastWord(id));
        const alpha2 = (num + pw) / (den + pl);
        const dH = ph * (pw * (Math.log(pw) - Math.log(pl) - Math.log(alpha2)) + num * (Math.log(alpha) - Math.log(alpha2)));
        if (Math.exp(dH) - 1 < threshold) drop.push(i);
      }
    }
    for (const i of drop) {
      kept[k - 2]![i] = 0;
      bump(keptChildren, model.contextOf(order[i]!), -1);
    }
  }

  // New tables with the kept n-grams, then backoff weights recomputed from the lowest order up.
  const orders = [tables.orders[0]!];
  for (let k = 2; k <= N; k++) {
    const src = tables.orders[k - 1]!;
    const keep = kept[k - 2]!;
    let size = 0;
    for (let i = 0; i < keep.length; i++) size += keep[i]!;
    const t = emptyOrder(k, size);
    for (let i = 0, r = 0; i < src.size; i++) {
      if (!keep[i]) continue;
      t.words.set(src.words.subarray(i * k, i * k + k), r * k);
      t.log10Prob[r] = src.log10Prob[i]!;
      t.log10Backoff[r] = src.log10Backoff[i]!;
      r++;
    }
    orders.push(t);
  }
  const pruned: NgramTables = { ...tables, orders, description: `${tables.description}, relative-entropy pruned at θ=${threshold}` };
  return BackoffModel.fromTables(recomputeBackoffs(pruned));
}

function bump(m: Map<number, number>, key: number, by: number): void {
  m.set(key, (m.get(key) ?? 0) + by);
}

/** P(h) by the chain rule, `<s>` having probability 1 at the start. */
function historyProbability(model: BackoffModel, h: number): number {
  const words = model.words(h);
  let log10 = 0;
  let state = -1;
  let i = 0;
  if (words[0] === BOS) {
    state = model.begin();
    i = 1;
  }
  for (; i < words.length; i++) {
    const r = model.score(state, words[i]!);
    log10 += r.log10;
    state = r.next;
  }
  return Math.pow(10, log10);
}

/**
 * Backoff weights that make every context's distribution sum to 1, given the probabilities in
 * the tables: α(h) = (1 − Σ p(w|h)) / (1 − Σ p(w|h')) over the words stored after h.
 *
 * @example
 * ```ts
 * import { BackoffModel, recomputeBackoffs, type NgramTables } from 'kotoba';
 * declare const tables: NgramTables; // with n-grams removed or probabilities changed
 * const model = BackoffModel.fromTables(recomputeBackoffs(tables)); // in place; sums to 1 again
 * ```
 */
export function recomputeBackoffs(tables: NgramTables): NgramTables {
  const N = tables.orders.length;
  // Backoffs of order k−1 contexts only depend on probabilities of orders ≤ k and on backoffs
  // of orders < k−1, so a model rebuilt after each order gives the right lower-order values.
  let model = BackoffModel.fromTables(tables);
  for (let k = 2; k <= N; k++) {
    const ctxOrder = tables.orders[k - 2]!;
    const t = tables.orders[k - 1]!;
    const num = new Map<number, number>();
    const den = new Map<number, number>();
    for (let i = 0; i < t.size; i++) {
      const id = model.lookup(t.words.subarray(i * k, i * k + k));
      const h = model.contextOf(id);
      const w = t.words[i * k + k - 1]!;
      num.set(h, (num.get(h) ?? 0) + Math.pow(10, t.log10Prob[i]!));
      den.set(h, (den.get(h) ?? 0) + Math.pow(10, model.score(model.suffixOf(h), w).log10));
    }
    for (let i = 0; i < ctxOrder.size; i++) {
      const h = model.lookup(ctxOrder.words.subarray(i * (k - 1), (i + 1) * (k - 1)));
      const n = num.get(h);
      if (n === undefined) {
        ctxOrder.log10Backoff[i] = 0;
        continue;
      }
      const a = (1 - n) / (1 - den.get(h)!);
      ctxOrder.log10Backoff[i] = a > 0 && Number.isFinite(a) ? Math.log(a) / LN10 : -Infinity;
    }
    model = BackoffModel.fromTables(tables);
  }
  return tables;
}
