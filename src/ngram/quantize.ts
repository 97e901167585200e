/**
 * Quantization of log10 probabilities and backoffs to q bits, as KenLM's trie does it (after
 * Federico & Bertoldi 2006): per order, sort the values, cut them into 2^q bins holding equal
 * numbers of values, and let each bin stand for the mean of its values; a value is stored as
 * the number of the nearest bin centre. Backoffs reserve bins 0 and 1 for zero without and with
 * an extension (−0.0 and +0.0, see probing.ts), so that states stay exactly as short as they can.
 */

/** Bins 0 and 1 of a backoff table: zero, without and with an extension. */
export const NO_EXTENSION_CODE = 0;
export const EXTENSION_CODE = 1;

/**
 * 2^bits − reserved bin centres for `values` (sorted in place): equal-count bins, each centre
 * the mean of its values (an empty bin repeats the previous centre), after `reserved` centres
 * given by the caller.
 */
export function makeBins(values: Float32Array, bits: number, reserved: readonly number[] = []): Float32Array {
  const centres = new Float32Array(2 ** bits);
  centres.set(reserved);
  values.sort();
  const bins = centres.length - reserved.length;
  let start = 0;
  for (let i = 0; i < bins; i++) {
    const finish = Math.floor((values.length * (i + 1)) / bins);
    const at = reserved.length + i;
    if (finish === start) {
      centres[at] = at > reserved.length ? centres[at - 1]! : -Infinity;
    } else {
      let sum = 0;
      for (let j = start; j < finish; j++) sum += values[j]!;
      centres[at] = sum / (finish - start);
    }
    start = finish;
  }
  return centres;
}

/** The code of the centre nearest `value` among `centres[from..)` (sorted); ties go up. */
export function encodeNearest(centres: Float32Array, value: number, from = 0): number {
  let lo = from;
  let hi = centres.length;
  // The first centre ≥ value.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (centres[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  if (lo === from) return from;
  if (lo === centres.length) return centres.length - 1;
  return value - centres[lo - 1]! < centres[lo]! - value ? lo - 1 : lo;
}

/** The code of a backoff: the reserved codes for zero, else the nearest centre. */
export function encodeBackoff(centres: Float32Array, value: number, extends_: boolean): number {
  if (value === 0) return extends_ ? EXTENSION_CODE : NO_EXTENSION_CODE;
  return encodeNearest(centres, value, 2);
}
