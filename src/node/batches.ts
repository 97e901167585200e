/**
 * A text file (plain or gzipped, or stdin) as batches of whole lines of bytes, for scoring on one
 * thread or many: each batch holds complete lines (a line is never split), knows the number of
 * its first line, and is about `batchBytes` long. A byte-order mark at the start is dropped; a
 * last line without a newline is a line. Memory: one batch and one chunk of the file, or one
 * line when a line is longer than that.
 */
import { bomLength, type TextBatch } from '../text/byte-tokenizer.js';
import { byteChunks } from './io.js';

/** Bytes per batch: big enough that handing a batch to a thread costs little, small enough that threads share a few MB. */
export const BATCH_BYTES = 1 << 18;

/**
 * The batches of `file` (`-` for stdin).
 *
 * @example
 * ```ts
 * import { lineBatches } from 'kotoba/node';
 * let lines = 0;
 * for await (const batch of lineBatches('wiki.test.txt')) lines += batch.lines;
 * ```
 */
export async function* lineBatches(file: string, batchBytes = BATCH_BYTES): AsyncGenerator<TextBatch & { lines: number }> {
  let carry: Uint8Array = new Uint8Array(0);
  let lineNo = 1;
  let first = true;
  for await (const chunk of byteChunks(file)) {
    let b: Uint8Array = first ? chunk.subarray(bomLength(chunk)) : chunk;
    first = false;
    if (carry.length > 0) {
      const joined = new Uint8Array(carry.length + b.length);
      joined.set(carry);
      joined.set(b, carry.length);
      b = joined;
    }
    let start = 0;
    while (b.length - start >= batchBytes) {
      // The last newline within batchBytes; or, for a longer line, its end.
      let last = b.lastIndexOf(10, start + batchBytes - 1);
      if (last < start) last = b.indexOf(10, start + batchBytes);
      if (last < 0) break;
      const bytes = b.subarray(start, last + 1);
      const lines = countLines(bytes);
      yield { bytes, firstLine: lineNo, lines };
      lineNo += lines;
      start = last + 1;
    }
    // A copy (Buffer's slice would be a view of the chunk).
    carry = new Uint8Array(b.subarray(start));
  }
  if (carry.length > 0) {
    const lines = countLines(carry) + (carry[carry.length - 1] === 10 ? 0 : 1);
    yield { bytes: carry, firstLine: lineNo, lines };
  }
}

function countLines(b: Uint8Array): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}
