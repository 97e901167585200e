// ARPA lines from MODEL rows in AssemblyScript: the same output as `formatModelChunks` in
// src/ngram/arpa.ts (the reference, and the fallback), about three times as fast. Estimation's
// last stage formats every n-gram of the model, so this loop is a large part of writing an ARPA
// file. scripts/build-wasm.mjs compiles it; src/ngram/arpa-kernel.ts places the rows, the words
// and the output in the (imported) memory.
//
// Pointers are byte offsets into the memory. A value whose digits float64 arithmetic cannot
// settle (rare: the exact method of src/util/float32.ts decides it) ends the call, and the caller
// writes that row.

const LOG10_2: f64 = 0.3010299956639812;

// @ts-ignore: decorator
@inline function pow10(table: usize, i: i32): f64 {
  return load<f64>(table + (<usize>i << 3));
}

/**
 * `shortestDigits` of src/util/float32.ts, step for step: the shortest decimal that reads back as
 * the float32 `x`, the nearest of those, a tie to the even digit. Writes at `out`; returns the
 * end, or −1 for "use the exact method". `table`: 10^0 … 10^22 as f64.
 */
function shortest(x: f64, out: usize, table: usize): isize {
  const a = Math.abs(x);
  if (!(a >= 1e-6 && a < 1e9)) return -1;
  const bits = reinterpret<u32>(<f32>a);
  const up = <f64>reinterpret<f32>(bits + 1);
  const down = <f64>reinterpret<f32>(bits - 1);
  const binary = <i32>(bits >>> 23) - 127;
  let e = <i32>Math.floor(<f64>binary * LOG10_2);
  if (e + 1 >= 0 && e + 1 < 23 && a >= pow10(table, e + 1)) e++;
  const s9 = 8 - e;
  if (s9 < 0 || s9 > 22) return -1;
  const lo = ((a + down) / 2) * pow10(table, s9);
  const hi = ((a + up) / 2) * pow10(table, s9);
  const loFloor = Math.floor(lo);
  const H = Math.floor(hi);
  if (lo - loFloor < 1e-6 || lo - loFloor > 1 - 1e-6 || hi - H < 1e-6 || hi - H > 1 - 1e-6) return -1;
  const L = loFloor + 1;
  let d: f64 = 1;
  let j = 0;
  while (j < s9 && d * 10 <= H - L + 1) {
    d *= 10;
    j++;
  }
  while (j < s9 && j < 8 && Math.floor(H / (d * 10)) * (d * 10) >= L) {
    d *= 10;
    j++;
  }
  const s = s9 - j;
  const v = a * pow10(table, s);
  const below = Math.floor(v);
  const r = v - below;
  if (s > 12 && Math.abs(r - 0.5) < 1e-6) return -1;
  const nearest = r == 0.5 ? below + <f64>(<i64>below & 1) : r > 0.5 ? below + 1 : below;
  let m = <i32>Math.min(Math.floor(H / d), Math.max(Math.ceil(L / d), nearest));
  let frac = s;
  while (frac > 0 && m % 10 == 0) {
    m = m / 10;
    frac--;
  }
  let digits = 1;
  while (digits < 10 && <f64>m >= pow10(table, digits)) digits++;
  let at = out;
  if (x < 0) store<u8>(at++, 45); // '-'
  const end = at + <usize>(frac >= digits ? frac + 2 : frac > 0 ? digits + 1 : digits);
  let o = end;
  for (let i = 0; i < frac; i++) {
    const q = m / 10;
    store<u8>(--o, 48 + m - q * 10);
    m = q;
  }
  if (frac > 0) store<u8>(--o, 46); // '.'
  do {
    const q = m / 10;
    store<u8>(--o, 48 + m - q * 10);
    m = q;
  } while (m > 0);
  return <isize>end;
}

/** An ARPA value at `out` (ByteWriter.value): −99 for log10 0, 0, else the shortest digits; −1: the exact method. */
function value(x: f64, out: usize, table: usize): isize {
  if (x <= -99) {
    store<u8>(out, 45);
    store<u8>(out + 1, 57);
    store<u8>(out + 2, 57);
    return <isize>(out + 3);
  }
  if (x == 0) {
    store<u8>(out, 48);
    return <isize>(out + 1);
  }
  return shortest(x, out, table);
}

/**
 * Copies `n` bytes 8 at a time: most words are short, and a call of memory.copy costs more than
 * they do. It reads and writes up to 7 bytes past the ends: the words are followed by their starts
 * and the cache's slots by more slots or the words, and the output has room past `outEnd`
 * (arpa-kernel.ts), where the next bytes overwrite them.
 */
// @ts-ignore: decorator
@inline function copyShort(to: usize, from: usize, n: usize): void {
  for (let c: usize = 0; c < n; c += 8) store<u64>(to + c, load<u64>(from + c));
}

/** Slots of the backoff cache (ByteWriter.cachedValue): 2^12, direct-mapped by the float's bits. */
const CACHE_BITS: u32 = 12;

/**
 * Formats MODEL rows `from` … `n`−1 at `rows` (order k: k word ids, then log10 p and log10
 * backoff as float32 bits) as ARPA lines: probability, tab, the words separated by spaces, and
 * below the top order a tab and the backoff; a newline. Word id w is bytes `starts[w]` …
 * `starts[w+1]` of `bytes`. Writes from `state[0]` on and leaves its new end there; stops before
 * a line that could pass `outEnd` (`lineMax` bytes: the longest line of the order). Returns the
 * next row to write: `n` when done, less when out of room or when the row's values need the
 * exact method (nothing of that row is written).
 *
 * `cache`: 2^12 i32 float bits (−1: empty), then 2^12 × 16 bytes: a length and the digits.
 */
export function formatRows(
  rows: usize,
  from: i32,
  n: i32,
  k: i32,
  top: i32,
  bytes: usize,
  starts: usize,
  table: usize,
  cache: usize,
  state: usize,
  outEnd: usize,
  lineMax: i32,
): i32 {
  let o = <usize>load<u32>(state);
  const W = k + 2;
  const text = cache + (<usize>4 << CACHE_BITS);
  let i = from;
  for (; i < n; i++) {
    if (o + <usize>lineMax > outEnd) break;
    const row = rows + (<usize>(i * W) << 2);
    const lineStart = o;
    const p = value(<f64>reinterpret<f32>(load<u32>(row + (<usize>k << 2))), o, table);
    if (p < 0) break;
    o = <usize>p;
    for (let j = 0; j < k; j++) {
      store<u8>(o++, j == 0 ? 9 : 32);
      const id = load<u32>(row + (<usize>j << 2));
      const s = <usize>load<i32>(starts + (<usize>id << 2));
      const e = <usize>load<i32>(starts + (<usize>(id + 1) << 2));
      copyShort(o, bytes + s, e - s);
      o += e - s;
    }
    if (k != top) {
      store<u8>(o++, 9);
      const b = load<u32>(row + (<usize>(k + 1) << 2));
      const slot = (b * 0x9e3779b1) >>> (32 - CACHE_BITS);
      const t = text + (<usize>slot << 4);
      if (load<u32>(cache + (<usize>slot << 2)) == b) {
        const length = <usize>load<u8>(t);
        copyShort(o, t + 1, length);
        o += length;
      } else {
        const q = value(<f64>reinterpret<f32>(b), o, table);
        if (q < 0) {
          o = lineStart;
          break;
        }
        const length = <usize>q - o;
        if (length < 16) {
          store<u32>(cache + (<usize>slot << 2), b);
          store<u8>(t, <u8>length);
          memory.copy(t + 1, o, length);
        }
        o = <usize>q;
      }
    }
    store<u8>(o++, 10);
  }
  store<u32>(state, <u32>o);
  return i;
}
