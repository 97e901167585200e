/**
 * A text file (plain or gzipped, or stdin) as batches of whole lines of bytes, for scoring on one
 * thread or many: each batch holds complete lines (a line is never split), knows the number of
 * its first line, and is about `batchBytes` long. A byte-order mark at the start is dropped; a
 * last line without a newline is a line. Memory: one batch and one chunk of the file, or one
 * line when a line is longer than that.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { KotobaError, at } from '../errors.js';
import { bomLength, type TextBatch } from '../text/byte-tokenizer.js';
import { byteChunks, DEFAULT_MAX_LINE_BYTES, fileError, isGzip, type LineOptions } from './io.js';

/** Bytes per batch: big enough that handing a batch to a thread costs little, small enough that threads share a few MB. */
export const BATCH_BYTES = 1 << 18;

/**
 * The batches of `file` (`-` for stdin). The batches are views into one buffer that is reused:
 * each is valid until the next is asked for (copy it to keep it), so that reading a long text
 * allocates nothing per batch and keeps the cache for the model.
 *
 * @example
 * ```ts
 * import { lineBatches } from 'kotoba/node';
 * let lines = 0;
 * for await (const batch of lineBatches('wiki.test.txt')) lines += batch.lines;
 * ```
 */
export async function* lineBatches(file: string, options: LineOptions & { batchBytes?: number } = {}): AsyncGenerator<TextBatch & { lines: number }> {
  const batchBytes = options.batchBytes ?? BATCH_BYTES;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const countLines = (bytes: Uint8Array, firstLine: number) => countLinesWithin(bytes, maxLineBytes, file, firstLine);
  // buffer[0, filled): the bytes read and not yet given out, a partial line first.
  let buffer = new Uint8Array(2 * batchBytes);
  let filled = 0;
  let lineNo = 1;
  let first = true;
  // buffer[start, scanned) is known to hold no newline: a long line is searched once, not once per chunk.
  let scanned = 0;
  for await (const chunk of fileChunks(file, batchBytes)) {
    let b = chunk;
    if (first) {
      b = b.subarray(bomLength(b));
      first = false;
    }
    if (filled + b.length > buffer.length) {
      const bigger = new Uint8Array(2 * (filled + b.length));
      bigger.set(buffer.subarray(0, filled));
      buffer = bigger;
    }
    buffer.set(b, filled);
    filled += b.length;
    // Whole lines, about batchBytes at a time; a line longer than that is a batch of its own.
    let start = 0;
    while (filled - start >= batchBytes) {
      const limit = start + batchBytes;
      let last = scanned < limit ? buffer.lastIndexOf(10, limit - 1) : -1;
      if (last < start) last = buffer.subarray(0, filled).indexOf(10, Math.max(limit, scanned));
      if (last < 0) {
        scanned = filled;
        break;
      }
      const bytes = buffer.subarray(start, last + 1);
      const lines = countLines(bytes, lineNo);
      yield { bytes, firstLine: lineNo, lines };
      lineNo += lines;
      start = last + 1;
    }
    buffer.copyWithin(0, start, filled);
    filled -= start;
    scanned = Math.max(0, scanned - start);
    // A line growing past the limit is refused before it is held whole.
    if (filled > maxLineBytes) countLines(buffer.subarray(0, filled), lineNo);
  }
  // The rest: whole lines, and a last line without its newline.
  for (let start = 0; start < filled; ) {
    let last = buffer.subarray(0, filled).lastIndexOf(10, Math.min(filled, start + batchBytes) - 1);
    if (last < start) last = buffer.subarray(0, filled).indexOf(10, start + batchBytes);
    const end = last < 0 ? filled : last + 1;
    const bytes = buffer.subarray(start, end);
    const lines = countLines(bytes, lineNo) + (bytes[bytes.length - 1] === 10 ? 0 : 1);
    yield { bytes, firstLine: lineNo, lines };
    lineNo += lines;
    start = end;
  }
}

/**
 * The bytes of a file in chunks read into two buffers that take turns (each chunk is valid until
 * the next is asked for): while one chunk is used, the next is being read. Gzipped files and
 * stdin go through `byteChunks`.
 */
export async function* fileChunks(path: string, size = 1 << 20): AsyncGenerator<Uint8Array> {
  if (path === '-') return yield* byteChunks(path);
  let handle: FileHandle | undefined;
  let next: Promise<unknown> | undefined;
  try {
    handle = await open(path, 'r');
    if (!(await handle.stat()).isFile()) {
      // A pipe or a device: read as a stream, without positions.
      await handle.close();
      handle = undefined;
      return yield* byteChunks(path);
    }
    const buffers = [new Uint8Array(size), new Uint8Array(size)];
    const { bytesRead: first } = await handle.read(buffers[0]!, 0, size, 0);
    if (isGzip(buffers[0]!.subarray(0, first))) {
      await handle.close();
      handle = undefined;
      return yield* byteChunks(path);
    }
    let at = first;
    let n = first;
    for (let turn = 0; n > 0; turn ^= 1) {
      const reading = handle.read(buffers[turn ^ 1]!, 0, size, at);
      next = reading;
      yield buffers[turn]!.subarray(0, n);
      ({ bytesRead: n } = await reading);
      at += n;
    }
  } catch (e) {
    throw fileError(e, path);
  } finally {
    // A read may still be under way when the reader stops early.
    await next?.catch(() => {});
    await handle?.close();
  }
}

/** The newlines in `b` (lines from `firstLine` on); a line longer than `maxLineBytes` is an error naming it. */
function countLinesWithin(b: Uint8Array, maxLineBytes: number, file: string, firstLine: number): number {
  let n = 0;
  let start = 0;
  for (let i = b.indexOf(10); ; i = b.indexOf(10, i + 1)) {
    const end = i < 0 ? b.length : i;
    // The newline is not counted; a CR before it is, as readLines counts it.
    if (end - start > maxLineBytes) {
      throw new KotobaError(
        `${at(file, firstLine + n)}line longer than ${maxLineBytes.toLocaleString('en-US')} bytes`,
        'put one sentence per line, or raise the limit with --max-line-bytes',
      );
    }
    if (i < 0) return n;
    n++;
    start = i + 1;
  }
}
