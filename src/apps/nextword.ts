/**
 * Next-word prediction on any {@link LanguageModel}: the full distribution p(· | state) and the
 * k most probable next words. Models that can fill a distribution cheaply (`distribution`) are
 * asked for it; for the others every vocabulary word is scored.
 *
 * A context given as words is always read as the start of a sentence: a leading `<s>` is
 * optional and means the same thing. (The state interface has no "middle of some sentence"
 * state, and n-gram models trained on sentences are sharpest right after `<s>` anyway.)
 */
import { KotobaError } from '../errors.js';
import type { LanguageModel } from '../lm.js';
import { splitWords } from '../text/tokenize.js';
import { BOS, BOS_WORD, EOS_WORD, UNK } from '../text/vocabulary.js';

/** One entry of a next-word list. */
export interface NextWord {
  word: string;
  id: number;
  /** p(word | context), a probability. */
  probability: number;
  /** log10 of `probability`. */
  log10: number;
}

export interface NextWordOptions {
  /** Include `<unk>` in the list (default true: its mass is real mass of the model). */
  unk?: boolean;
  /** Reused output buffer for the distribution (length ≥ vocabulary size), to avoid allocation. */
  scratch?: Float64Array;
}

/**
 * p(w | state) for every word id w of `lm`'s vocabulary, `<s>` set to 0. Uses the model's
 * `distribution` when it has one, otherwise scores every word (slower: V calls to `score`).
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, fullDistribution } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
 * const dist = fullDistribution(model, model.begin());
 * console.log(dist[model.vocab.id('the')]); // p(the | <s>)
 * if (Math.abs(dist.reduce((a, b) => a + b, 0) - 1) > 1e-6) throw new Error('a distribution sums to 1');
 * ```
 */
export function fullDistribution<S>(lm: LanguageModel<S>, state: S, out?: Float64Array): Float64Array {
  const V = lm.vocab.size;
  const dist = out && out.length >= V ? out : new Float64Array(V);
  if (lm.distribution) {
    lm.distribution(state, dist);
  } else {
    for (let w = 0; w < V; w++) dist[w] = w === BOS ? 0 : Math.pow(10, lm.score(state, w).log10);
  }
  dist[BOS] = 0;
  return dist;
}

/**
 * Ids of the `k` largest values of `values[0..n)` (skipping ids where `skip[id]` is set, and
 * values ≤ 0), best first; ties go to the lower id. A bounded min-heap in typed arrays: O(n log k).
 * Writes into `out` and returns how many it found.
 *
 * @example
 * ```ts
 * // runs
 * import { topIds } from 'kotoba';
 * const ids = new Int32Array(3);
 * const n = topIds(new Float64Array([0.1, 0.5, 0.2, 0.2]), 4, 3, ids);
 * if (n !== 3 || ids.join() !== '1,2,3') throw new Error('best first, ties to the lower id');
 * ```
 */
export function topIds(values: Float64Array, n: number, k: number, out: Int32Array, skip?: (id: number) => boolean): number {
  k = Math.min(k, out.length);
  if (k <= 0) return 0;
  const heap = out; // heap[0] is the worst of the kept ones
  let size = 0;
  // a is worse than b: smaller value, or equal value and higher id.
  const worse = (a: number, b: number): boolean => {
    const va = values[a]!;
    const vb = values[b]!;
    return va < vb || (va === vb && a > b);
  };
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(heap[l]!, heap[m]!)) m = l;
      if (r < size && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      const t = heap[i]!;
      heap[i] = heap[m]!;
      heap[m] = t;
      i = m;
    }
  };
  for (let id = 0; id < n; id++) {
    if (!(values[id]! > 0) || (skip && skip(id))) continue;
    if (size < k) {
      // sift up
      let i = size++;
      heap[i] = id;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[p]!)) break;
        const t = heap[i]!;
        heap[i] = heap[p]!;
        heap[p] = t;
        i = p;
      }
    } else if (worse(heap[0]!, id)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  // Heap sort in place: repeatedly move the worst to the end, so the array ends best first.
  const count = size;
  while (size > 1) {
    const t = heap[0]!;
    heap[0] = heap[size - 1]!;
    heap[size - 1] = t;
    size--;
    siftDown(0);
  }
  return count;
}

/**
 * The `k` most probable next words after `state`, best first (ties: lower id first). `<s>` is
 * never listed; `<unk>` is unless `unk: false`.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, nextWords } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
 * const top = nextWords(model, model.begin(), 5);
 * console.log(top); // [{ word: 'the', id: 3, probability: …, log10: … }, …]
 * ```
 */
export function nextWords<S>(lm: LanguageModel<S>, state: S, k: number, options: NextWordOptions = {}): NextWord[] {
  const V = lm.vocab.size;
  const dist = fullDistribution(lm, state, options.scratch);
  const ids = new Int32Array(Math.max(0, Math.min(k, V)));
  const skipUnk = options.unk === false;
  const n = topIds(dist, V, ids.length, ids, skipUnk ? (id) => id === UNK : undefined);
  const out: NextWord[] = [];
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    const p = dist[id]!;
    out.push({ word: lm.vocab.word(id), id, probability: p, log10: Math.log10(p) });
  }
  return out;
}

/**
 * Text with a leading `<s>` (and the space after it) removed, so that a tokenizer that splits
 * punctuation (`--segment`) does not see it.
 *
 * @example
 * ```ts
 * // runs
 * import { stripSentenceStart } from 'kotoba';
 * if (stripSentenceStart('<s> the game') !== 'the game') throw new Error('leading <s> removed');
 * ```
 */
export function stripSentenceStart(text: string): string {
  const m = /^[ \t]*<s>(?:[ \t]+|$)/.exec(text);
  return m ? text.slice(m[0].length) : text;
}

/** A context as word ids, and how many of its words the model does not know. */
export interface ReadContext<S> {
  state: S;
  /** The context words as read (a leading `<s>` removed). */
  words: string[];
  /** Number of context words outside the vocabulary (read as `<unk>`). */
  oov: number;
}

/**
 * The state after reading `context` from the start of a sentence. `context` is a string (split
 * on spaces and tabs) or words; a leading `<s>` is optional; `</s>` is not allowed (a context
 * cannot end a sentence and go on).
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, contextState, corpusFromText, estimate } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
 * const { state, oov } = contextState(model, 'the dog');
 * console.log(model.score(state, model.vocab.id('sat')).log10, oov); // log10 p(sat | <s> the dog), 0
 * ```
 */
export function contextState<S>(lm: LanguageModel<S>, context: string | readonly string[]): ReadContext<S> {
  let words = typeof context === 'string' ? splitWords(context) : context.slice();
  if (words[0] === BOS_WORD) words = words.slice(1);
  let state = lm.begin();
  let oov = 0;
  for (const w of words) {
    if (w === EOS_WORD || w === BOS_WORD) {
      throw new KotobaError(`the context contains ${w} after its start`, 'give the words of one sentence so far; <s> may only open it');
    }
    const id = lm.vocab.id(w);
    if (id === UNK) oov++;
    state = lm.score(state, id).next;
  }
  return { state, words, oov };
}

/**
 * The `k` most probable words after `context`, read from the start of a sentence (see
 * {@link contextState}).
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, nextWordsAfter } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
 * console.log(nextWordsAfter(model, '<s> the', 3).map((w) => w.word)); // e.g. ['cat', 'dog', …]
 * ```
 */
export function nextWordsAfter<S>(lm: LanguageModel<S>, context: string | readonly string[], k: number, options: NextWordOptions = {}): NextWord[] {
  return nextWords(lm, contextState(lm, context).state, k, options);
}
