// The probing structure's sentence loop in AssemblyScript: the same algorithm as `run` in
// src/ngram/probing.ts (the reference, and the fallback), about twice as fast. scripts/build-wasm.mjs
// compiles it; the memory is imported and holds the model's records, so nothing is copied but a
// sentence's words in and its scores out.
//
// Pointers are byte offsets into the memory; records, tables and arrays of ints are i32.

/** MurmurHash3's finalizer (probing.ts: mix). */
// @ts-ignore: decorator
@inline function mix(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  return h ^ (h >> 16);
}

/** The slot of hash h in a table of `cap` slots: ⌊h · cap / 2^32⌋ (probing.ts: slotOf). */
// @ts-ignore: decorator
@inline function slotOf(h: u32, cap: u32): u32 {
  return <u32>((<u64>h * <u64>cap) >> 32);
}

// @ts-ignore: decorator
@inline function int(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

const NO_EXTENSION: i32 = <i32>0x80000000;
const LOW_24: i32 = 0xffffff;

/**
 * Scores the `n` words at `words` (i32 ids) after the history (`len` n-grams at `ctx`; `before`:
 * the words before the first, most recent first), writing log10 p (f64) to `out` and the
 * matched order (u8) to `ngram`; `found` is scratch for as many ints as the order. Returns the
 * float32 sum of the scores.
 *
 * `tables` holds, per order k at index k, the record offset of its table (base) and, at index
 * 256 + k, its number of slots; `mask` is the word mask (the extension filter is on when it is
 * 0xffffff).
 */
export function score(records: usize, tables: usize, order: i32, mask: i32, words: usize, n: i32, out: usize, ngram: usize, ctxIn: usize, foundIn: usize, lenIn: i32, before: usize): f32 {
  let ctx = ctxIn;
  let found = foundIn;
  let len = lenIn;
  const filter = mask == LOW_24;
  let total: f32 = 0;
  for (let i = 0; i < n; i++) {
    const w = int(words, i);
    let f = w << 2;
    store<i32>(found, f);
    let m = 1;
    let h = mix(<u32>w ^ 0x2545f491);
    const bit: i32 = 1 << (24 + <i32>(h >> 29));
    for (let k = 2; k <= len + 1; k++) {
      if (filter && (int(records, int(ctx, k - 2) + 1) & bit) == 0) break;
      // The word k − 1 places back: in `words`, or before them.
      const c = k - 1 <= i ? int(words, i - k + 1) : int(before, k - 2 - i);
      h = mix(h ^ (<u32>(c + 1) * 0x9e3779b1));
      const fields = k == order ? 3 : 4;
      const start = int(tables, k);
      const cap = <u32>int(tables, 256 + k);
      const key = ~f;
      let s = slotOf(h, cap);
      let o = start + <i32>s * fields;
      while (true) {
        const stored = int(records, o);
        if (stored == key && (int(records, o + 1) & mask) == c) break;
        if (stored == 0) {
          o = -1;
          break;
        }
        if (++s == cap) {
          s = 0;
          o = start;
        } else o += fields;
      }
      if (o < 0) break;
      f = o;
      store<i32>(found + (<usize>(k - 1) << 2), o);
      m = k;
    }
    // log10 p of the match, then the backoffs of the longer contexts, shortest first (float32).
    let lp = load<f32>(records + (<usize>(f + 2) << 2));
    for (let j = m; j <= len; j++) lp = lp + load<f32>(records + (<usize>(int(ctx, j - 1) + 3) << 2));
    store<f64>(out + (<usize>i << 3), <f64>lp);
    store<u8>(ngram + <usize>i, <u8>m);
    total += lp;
    // The next history: the longest match that can be extended (never the highest order).
    let next = m < order ? m : order - 1;
    while (next > 0 && int(records, int(found, next - 1) + 3) == NO_EXTENSION) next--;
    const t = ctx;
    ctx = found;
    found = t;
    len = next;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// `ppl` on a batch of text: lines of UTF-8 bytes to word ids (src/text/byte-tokenizer.ts is the
// reference) and scored, with the totals kept as PerplexityAccumulator.recording keeps them.

const SPACE: u8 = 0x20;
const TAB: u8 = 0x09;
const BOS: i32 = 1;
const EOS: i32 = 2;

/** Results of `perplexityBatch`, as i32 at `counts`. */
const LINES = 0;
const TOKENS = 1;
const OOV = 2;
const ZEROS = 3;
const ERROR = 4; // 0, or: 2 <s> inside a sentence, 3 </s> inside, 5 a line too long, 6 too many OOVs or unknown words
const ERROR_LINE = 5; // the line (from 0) of the error
const UNKNOWN = 6; // unknown words with bytes ≥ 0x80 (for the caller to check as UTF-8)

/**
 * The lines of `text[0, length)`: each tokenized with the vocabulary table at `vocab` (i32:
 * slot mask, then byte offsets of the slots' ids, their hashes, the words' starts and bytes),
 * scored from <s>, its float32 total written to `totals`, the scores of its unknown words to
 * `oovOut`. Stops at the first line with a misplaced sentence marker, or one that does not fit.
 * `ids` holds `capacity` ids; `unknowns` (start, end, line) triples, up to `unknownCapacity`.
 */
export function perplexityBatch(
  records: usize,
  tables: usize,
  order: i32,
  mask: i32,
  beginLength: i32,
  vocab: usize,
  text: usize,
  length: i32,
  ids: usize,
  capacity: i32,
  out: usize,
  ngram: usize,
  ctx: usize,
  found: usize,
  before: usize,
  totals: usize,
  oovOut: usize,
  oovCapacity: i32,
  unknowns: usize,
  unknownCapacity: i32,
  counts: usize,
): void {
  const slotMask = int(vocab, 0);
  const slotIds = <usize>int(vocab, 1);
  const slotHashes = <usize>int(vocab, 2);
  const starts = <usize>int(vocab, 3);
  const bytes = <usize>int(vocab, 4);
  let lines = 0;
  let tokens = 0;
  let oov = 0;
  let zeros = 0;
  let unknown = 0;
  let error = 0;
  let at = 0;
  while (at < length) {
    // One line, in one pass: its words up to the LF (a CR just before the LF is not part of it).
    let n = 0;
    let i = at;
    let c: u8 = 0;
    while (true) {
      while (i < length) {
        c = load<u8>(text + <usize>i);
        if (c != SPACE && c != TAB) break;
        i++;
      }
      if (i >= length || c == 10) break;
      const from = i;
      let h: u32 = 0x811c9dc5;
      let previous: u32 = h;
      let high = false;
      do {
        previous = h;
        h = (h ^ c) * 0x01000193;
        if (c >= 0x80) high = true;
        i++;
        c = i < length ? load<u8>(text + <usize>i) : 10;
      } while (c != SPACE && c != TAB && c != 10);
      let size = i - from;
      if (c == 10 && load<u8>(text + <usize>(i - 1)) == 13) {
        size--;
        h = previous;
        if (size == 0) continue;
      }
      h ^= h >> 15;
      let id = -1;
      for (let s = <i32>h & slotMask; ; s = (s + 1) & slotMask) {
        const candidate = int(slotIds, s);
        if (candidate < 0) break;
        if (int(slotHashes, s) != <i32>h) continue;
        const start = int(starts, candidate);
        if (int(starts, candidate + 1) - start != size) continue;
        let j = 0;
        while (j < size && load<u8>(bytes + <usize>(start + j)) == load<u8>(text + <usize>(from + j))) j++;
        if (j == size) {
          id = candidate;
          break;
        }
      }
      if (id < 0) {
        id = 0;
        if (high) {
          if (unknown == unknownCapacity) {
            error = 6;
            break;
          }
          store<i32>(unknowns + (<usize>(3 * unknown) << 2), from);
          store<i32>(unknowns + (<usize>(3 * unknown + 1) << 2), from + size);
          store<i32>(unknowns + (<usize>(3 * unknown + 2) << 2), lines);
          unknown++;
        }
      }
      if (n + 2 > capacity) {
        error = 5;
        break;
      }
      store<i32>(ids + (<usize>n << 2), id);
      n++;
    }
    const next = i + 1;
    if (error != 0) break;
    // Sentence markers: <s> may open the line and </s> close it; nowhere else.
    let first = 0;
    if (n > 0 && int(ids, 0) == BOS) first = 1;
    if (n > first && int(ids, n - 1) == EOS) n--;
    for (let j = first; j < n; j++) {
      const id = int(ids, j);
      if (id == BOS || id == EOS) error = id == BOS ? 2 : 3;
    }
    if (error != 0) break;
    store<i32>(ids + (<usize>n << 2), EOS);
    const words = ids + (<usize>first << 2);
    const m = n - first + 1;
    store<i32>(ctx, BOS << 2);
    const total = score(records, tables, order, mask, words, m, out, ngram, ctx, found, beginLength, before);
    store<f32>(totals + (<usize>lines << 2), total);
    for (let j = 0; j < m; j++) {
      const lp = load<f64>(out + (<usize>j << 3));
      if (lp == -Infinity) zeros++;
      if (int(words, j) == 0) {
        if (oov == oovCapacity) {
          error = 6;
          break;
        }
        store<f32>(oovOut + (<usize>oov << 2), <f32>lp);
        oov++;
      }
    }
    if (error != 0) break;
    tokens += m;
    lines++;
    at = next;
  }
  store<i32>(counts + (LINES << 2), lines);
  store<i32>(counts + (TOKENS << 2), tokens);
  store<i32>(counts + (OOV << 2), oov);
  store<i32>(counts + (ZEROS << 2), zeros);
  store<i32>(counts + (ERROR << 2), error);
  store<i32>(counts + (ERROR_LINE << 2), lines);
  store<i32>(counts + (UNKNOWN << 2), unknown);
}

// ---------------------------------------------------------------------------------------------
// The binary format's checksum (src/ngram/binary.ts: checksumOf): FNV-1a in four lanes over
// 32-bit words, here a group of four words (16 bytes) at a time.

/** Runs `groups` groups of 16 bytes at `p` through the four lane states at `state` (updated). */
export function checksum(p: usize, groups: i32, state: usize): void {
  let h = v128.load(state);
  const prime = i32x4.splat(0x01000193);
  for (let i = 0; i < groups; i++) h = i32x4.mul(v128.xor(h, v128.load(p + (<usize>i << 4))), prime);
  v128.store(state, h);
}
