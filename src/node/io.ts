/**
 * File and stream I/O for Node: lines from plain or gzipped files and stdin with clear errors,
 * and atomic writes (a temporary file renamed into place, so a failed run never leaves a
 * half-written model).
 */
import { constants as fsConstants, createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gunzipSync } from 'node:zlib';
import { KotobaError, at } from '../errors.js';

/**
 * Turns a Node file-system error into a one-line KotobaError naming the file and the fix.
 *
 * @example
 * ```ts
 * import { fileError } from 'kotoba/node';
 * import { readFile } from 'node:fs/promises';
 * const text = await readFile('dev.txt', 'utf8').catch((e: unknown) => {
 *   throw fileError(e, 'dev.txt'); // cannot read dev.txt: no such file or directory (check the path)
 * });
 * ```
 */
export function fileError(err: unknown, file: string, doing = 'read'): KotobaError {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new KotobaError(`cannot ${doing} ${file}: no such file or directory`, 'check the path');
    case 'EACCES':
    case 'EPERM':
      return new KotobaError(`cannot ${doing} ${file}: permission denied`, 'check the file permissions');
    case 'EISDIR':
      return new KotobaError(`cannot ${doing} ${file}: it is a directory`, 'give a file');
    case 'ENOSPC':
      return new KotobaError(`cannot ${doing} ${file}: no space left on device`, 'free some disk space');
    default:
      if (err instanceof KotobaError) return err;
      if ((err as Error)?.message?.includes('incorrect header check')) {
        return new KotobaError(`cannot ${doing} ${file}: corrupt gzip data`, 'check that the file is complete');
      }
      if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR') {
        return new KotobaError(`cannot ${doing} ${file}: truncated or corrupt gzip data`, 'check that the file is complete');
      }
      return new KotobaError(`cannot ${doing} ${file}: ${(err as Error)?.message ?? String(err)}`);
  }
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Raw bytes of a file or of stdin (`-`), decompressed when gzipped.
 *
 * @example
 * ```ts
 * import { byteChunks } from 'kotoba/node';
 * let bytes = 0;
 * for await (const chunk of byteChunks('wiki.train.txt.gz')) bytes += chunk.length; // uncompressed
 * ```
 */
export async function* byteChunks(file: string): AsyncGenerator<Uint8Array> {
  const name = file === '-' ? '<stdin>' : file;
  let source: NodeJS.ReadableStream;
  if (file === '-') source = process.stdin;
  else {
    // Open first, so that a missing or unreadable file is one clear error.
    const handle = await fsp.open(file, 'r').catch((e: unknown) => {
      throw fileError(e, file);
    });
    source = handle.createReadStream({ highWaterMark: 1 << 20 });
  }
  try {
    const iterator = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const firstChunk = await iterator.next();
    if (firstChunk.done) return;
    const head = firstChunk.value as Buffer;
    if (isGzip(head)) {
      const gz = createGunzip();
      // Feed the compressed stream to gunzip, reading its output as we go.
      const feed = (async () => {
        gz.write(head);
        for (let c = await iterator.next(); !c.done; c = await iterator.next()) {
          if (!gz.write(c.value)) await new Promise((r) => gz.once('drain', r));
        }
        gz.end();
      })();
      feed.catch((e) => gz.destroy(e));
      for await (const chunk of gz as AsyncIterable<Buffer>) yield chunk;
      await feed;
    } else {
      yield head;
      for (let c = await iterator.next(); !c.done; c = await iterator.next()) yield c.value as Buffer;
    }
  } catch (e) {
    throw fileError(e, name);
  } finally {
    if (file !== '-') (source as unknown as { destroy?: () => void }).destroy?.();
  }
}

/**
 * Offset of the first byte in `b` that cannot start or continue valid UTF-8, or -1. An
 * incomplete character at the very end is not counted (it may continue in the next chunk).
 *
 * @example
 * ```ts
 * // runs
 * import { invalidUtf8Offset } from 'kotoba/node';
 * invalidUtf8Offset(new TextEncoder().encode('私は')); // -1: valid
 * invalidUtf8Offset(Uint8Array.of(0x61, 0xff, 0x62));  // 1
 * invalidUtf8Offset(Uint8Array.of(0xe7, 0xa7));        // -1: 私 may be completed by the next chunk
 * ```
 */
export function invalidUtf8Offset(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) { need = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { need = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; min = 0x10000; }
    else return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      if (i + k >= b.length) return -1; // may continue in the next chunk
      const d = b[i + k]!;
      if ((d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Options for `readLines`. */
export interface LineOptions {
  /** Called for each line that lacked a final newline (only the last line can). */
  onUnterminatedLastLine?: () => void;
  /** Called with the size of each chunk of bytes read (after gunzip), for progress. */
  onBytes?: (bytes: number) => void;
}

/**
 * Lines of a text file or stdin (`-`), plain or gzipped, decoded as strict UTF-8. A byte-order
 * mark at the start is dropped, CRLF line endings are accepted, and a last line without a
 * newline is still a line. Invalid UTF-8 is an error naming the file and line.
 *
 * @example
 * ```ts
 * import { readLines } from 'kotoba/node';
 * const options = { onUnterminatedLastLine: () => console.warn('wiki.train.txt.gz: no final newline') };
 * let lines = 0;
 * for await (const line of readLines('wiki.train.txt.gz', options)) {
 *   if (line.trim() !== '') lines++;
 * }
 * ```
 */
export async function* readLines(file: string, options: LineOptions = {}): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let carry = '';
  let lineNo = 0;
  for await (const raw of byteChunks(file)) {
    options.onBytes?.(raw.length);
    let text: string;
    try {
      text = decoder.decode(raw, { stream: true });
    } catch {
      // Find the exact line of the bad byte: count newlines before it.
      const bad = invalidUtf8Offset(raw);
      let line = lineNo + 1;
      for (let i = 0; i < bad; i++) if (raw[i] === 0x0a) line++;
      throw new KotobaError(`${at(file, line)}invalid UTF-8`, 'convert the file to UTF-8, e.g. with iconv');
    }
    let start = 0;
    const full = carry + text;
    for (let nl = full.indexOf('\n'); nl >= 0; nl = full.indexOf('\n', start)) {
      const end = nl > start && full.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      lineNo++;
      yield full.slice(start, end);
      start = nl + 1;
    }
    carry = full.slice(start);
  }
  try {
    carry += decoder.decode();
  } catch {
    throw new KotobaError(`${at(file, lineNo + 1)}invalid UTF-8 (truncated character at end of file)`, 'convert the file to UTF-8');
  }
  if (carry.length > 0) {
    options.onUnterminatedLastLine?.();
    yield carry.charCodeAt(carry.length - 1) === 13 ? carry.slice(0, -1) : carry;
  }
}

/**
 * Whole file (or stdin) as bytes, gunzipped when gzipped.
 *
 * @example
 * ```ts
 * import { deserializeModel } from 'kotoba';
 * import { readBytes } from 'kotoba/node';
 * const model = deserializeModel(await readBytes('wiki3.kblm'), 'wiki3.kblm');
 * ```
 */
export async function readBytes(file: string): Promise<Uint8Array> {
  let data: Uint8Array;
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      data = Buffer.concat(chunks);
    } else {
      data = await fsp.readFile(file);
    }
    return isGzip(data) ? gunzipSync(data) : data;
  } catch (e) {
    throw fileError(e, file);
  }
}

function tempPathFor(target: string): string {
  const rand = Math.random().toString(36).slice(2, 10);
  return join(dirname(target), `.${basename(target)}.${process.pid}.${rand}.tmp`);
}

/**
 * Writes `target` atomically: `write` fills a temporary file beside it, which is renamed over
 * `target` only when everything succeeded. On failure the temporary file is removed and the old
 * `target`, if any, is untouched. Gzips when `target` ends in `.gz`.
 *
 * @example
 * ```ts
 * import { writeAtomic } from 'kotoba/node';
 * declare const scores: [sentence: string, log10: number][];
 * await writeAtomic('scores.tsv.gz', async (out) => {
 *   for (const [sentence, log10] of scores) await out(`${log10}\t${sentence}\n`);
 * });
 * ```
 */
export async function writeAtomic(
  target: string,
  write: (out: (chunk: string | Uint8Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  const tmp = tempPathFor(target);
  let file: WriteStream;
  try {
    file = createWriteStream(tmp, { flags: 'wx' });
    await new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      file.once('error', reject);
    });
  } catch (e) {
    throw fileError(e, target, 'write');
  }
  const gzip = target.endsWith('.gz') ? createGzip({ level: 6 }) : null;
  const sink: Writable = gzip ?? file;
  const done = gzip ? pipeline(gzip, file) : finished(file);
  let failed: unknown = null;
  done.catch((e) => { failed = e; });
  const out = async (chunk: string | Uint8Array): Promise<void> => {
    if (failed) throw failed;
    if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
  };
  try {
    await write(out);
    sink.end();
    await done;
    await fsp.rename(tmp, target);
  } catch (e) {
    sink.destroy();
    file.destroy();
    await fsp.rm(tmp, { force: true });
    throw e instanceof KotobaError ? e : fileError(e, target, 'write');
  }
}

/**
 * Fails early, before long work, when `target`'s folder does not exist or is not writable.
 *
 * @example
 * ```ts
 * import { checkWritable } from 'kotoba/node';
 * await checkWritable('models/wiki5.kblm'); // a KotobaError now, not after an hour of estimation
 * ```
 */
export async function checkWritable(target: string): Promise<void> {
  const dir = dirname(target) || '.';
  try {
    const st = await fsp.stat(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await fsp.access(dir, fsConstants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new KotobaError(`cannot write ${target}: ${dir} is not a directory`, 'check the path');
    throw fileError(e, target, 'write');
  }
}

/**
 * Writes bytes or text to `target` atomically.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from 'kotoba/node';
 * await writeFileAtomic('report.json', JSON.stringify({ perplexity: 152.3 }, null, 2) + '\n');
 * ```
 */
export function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  return writeAtomic(target, (out) => out(data));
}
