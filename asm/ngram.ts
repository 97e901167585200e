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
