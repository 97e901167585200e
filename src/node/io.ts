/**
 * File and stream I/O for Node: lines from plain or gzipped files and stdin with clear errors,
 * and atomic writes (a temporary file renamed into place, so a failed run never leaves a
 * half-written model).
 */
import { constants as fsConstants, createWriteStream, fdatasync, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gunzipSync } from 'node:zlib';
import { constants as bufferConstants } from 'node:buffer';
import { KotobaError, at } from '../errors.js';
import { DirectFile } from './direct-file.js';

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
  if (err instanceof KotobaError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const cause = code !== undefined && Object.hasOwn(ERRNO_CAUSES, code) ? ERRNO_CAUSES[code] : undefined;
  if (cause) return new KotobaError(`cannot ${doing} ${file}: ${cause[0]}`, cause[1]);
  const message = (err as Error)?.message ?? String(err);
  if (message.includes('incorrect header check')) {
    return new KotobaError(`cannot ${doing} ${file}: corrupt gzip data`, 'check that the file is complete');
  }
  if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR') {
    return new KotobaError(`cannot ${doing} ${file}: truncated or corrupt gzip data`, 'check that the file is complete');
  }
  // Node's system errors read 'EXDEV: cross-device link not permitted, rename 'a' -> 'b'': keep
  // the cause, drop the code and the syscall (the file is named already).
  const systemCause = code && /^E[A-Z]+$/.test(code) ? new RegExp(`^${code}: ([^,]+)`).exec(message)?.[1] : undefined;
  return new KotobaError(`cannot ${doing} ${file}: ${systemCause ?? message}`);
}

/** The causes users meet, by errno code: what happened, and what to do about it. */
const ERRNO_CAUSES: Record<string, [cause: string, fix: string]> = {
  ENOENT: ['no such file or directory', 'check the path'],
  EACCES: ['permission denied', 'check the file permissions'],
  EPERM: ['permission denied', 'check the file permissions'],
  EISDIR: ['it is a directory', 'give a file'],
  ENOTDIR: ['a folder on the path is a file', 'check the path'],
  ENOSPC: ['no space left on device', 'free some disk space'],
  EDQUOT: ['disk quota exceeded', 'free some space or raise the quota'],
  EFBIG: ['file too large for the file system or the ulimit', "check 'ulimit -f' and the file system's file size limit"],
  EIO: ['input/output error', 'check the disk or the network file system'],
  EROFS: ['read-only file system', 'write to another folder'],
  EPIPE: ['broken pipe (the reader went away)', 'check the command that reads the output'],
  ENAMETOOLONG: ['file name too long', 'use a shorter name'],
  EMFILE: ['too many open files', "raise the limit with 'ulimit -n'"],
};

/** Whether `b` starts with gzip's magic bytes. */
export const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

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
          await writeChunk(gz, c.value);
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

/**
 * The longest line `readLines` accepts by default: 64 MiB, a thousand times the longest
 * paragraph of the usual corpora, so that a file with no newline at all (a gzip bomb of NUL
 * bytes) stops there in a second, and no command needs more than about 0.5 GB for one line.
 * Corpora written as one line (text8: 100 MB) need `maxLineBytes` (`--max-line-bytes 128M`).
 */
export const DEFAULT_MAX_LINE_BYTES = 64 * 2 ** 20;

/** The most any line can hold: a JavaScript string's maximum length. */
export const MAX_LINE_BYTES_LIMIT = bufferConstants.MAX_STRING_LENGTH;

/** Options for `readLines`. */
export interface LineOptions {
  /** Called for each line that lacked a final newline (only the last line can). */
  onUnterminatedLastLine?: () => void;
  /** A longer line is an error naming the file and the line (default `DEFAULT_MAX_LINE_BYTES`). */
  maxLineBytes?: number;
  /** Called with the size of each chunk of bytes read (after gunzip), for progress. */
  onBytes?: (bytes: number) => void;
}

const NEWLINE = 0x0a;

/**
 * Lines of a text file or stdin (`-`), plain or gzipped, decoded as strict UTF-8. A byte-order
 * mark at the start is dropped, CRLF line endings are accepted, and a last line without a
 * newline is still a line. Invalid UTF-8, or a line longer than `maxLineBytes`, is an error
 * naming the file and line. Time is linear in the file's size whatever its line lengths, and
 * memory is bounded by the longest line.
 *
 * @example
 * ```ts
 * import { readLines } from 'kotoba/node';
 * const options = { onUnterminatedLastLine: () => console.warn('wiki.train.txt.gz: no final newline'), maxLineBytes: 2 ** 20 };
 * let lines = 0;
 * for await (const line of readLines('wiki.train.txt.gz', options)) {
 *   if (line.trim() !== '') lines++;
 * }
 * ```
 */
export async function* readLines(file: string, options: LineOptions = {}): AsyncGenerator<string> {
  const maxBytes = Math.min(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES_LIMIT);
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  // The line not finished yet, as decoded pieces: joined once when its newline comes, so that a
  // long line costs linear time (concatenating and searching it chunk by chunk was quadratic).
  let pending: string[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  for await (const raw of byteChunks(file)) {
    options.onBytes?.(raw.length);
    if (pendingBytes + raw.length > maxBytes) checkLineBytes(raw, pendingBytes, maxBytes, file, lineNo);
    const lastNewline = raw.lastIndexOf(NEWLINE);
    pendingBytes = lastNewline < 0 ? pendingBytes + raw.length : raw.length - lastNewline - 1;
    let text: string;
    try {
      text = decoder.decode(raw, { stream: true });
    } catch {
      // Find the exact line of the bad byte: count newlines before it.
      const bad = invalidUtf8Offset(raw);
      let line = lineNo + 1;
      for (let i = 0; i < bad; i++) if (raw[i] === NEWLINE) line++;
      throw new KotobaError(`${at(file, line)}invalid UTF-8`, 'convert the file to UTF-8, e.g. with iconv');
    }
    let nl = text.indexOf('\n');
    if (nl < 0) {
      if (text.length > 0) pending.push(text);
      continue;
    }
    let start = 0;
    if (pending.length > 0) {
      pending.push(text.slice(0, nl));
      lineNo++;
      yield withoutCr(pending.join(''));
      pending = [];
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    for (; nl >= 0; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      lineNo++;
      yield text.slice(start, end);
      start = nl + 1;
    }
    if (start < text.length) pending.push(text.slice(start));
  }
  try {
    const tail = decoder.decode();
    if (tail.length > 0) pending.push(tail);
  } catch {
    throw new KotobaError(`${at(file, lineNo + 1)}invalid UTF-8 (truncated character at end of file)`, 'convert the file to UTF-8');
  }
  if (pending.length > 0) {
    options.onUnterminatedLastLine?.();
    yield withoutCr(pending.join(''));
  }
}

const withoutCr = (line: string): string => (line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line);

/**
 * Throws for the first line in `raw` that makes a line longer than `maxBytes`, given that the
 * line before `raw` already holds `pendingBytes` bytes (only called when one may).
 */
function checkLineBytes(raw: Uint8Array, pendingBytes: number, maxBytes: number, file: string, lineNo: number): void {
  let bytes = pendingBytes;
  let line = lineNo + 1;
  for (let start = 0; ; line++) {
    const nl = raw.indexOf(NEWLINE, start);
    bytes += (nl < 0 ? raw.length : nl) - start;
    if (bytes > maxBytes) {
      throw new KotobaError(
        `${at(file, line)}line longer than ${maxBytes.toLocaleString('en-US')} bytes`,
        'put one sentence per line, or raise the limit with --max-line-bytes',
      );
    }
    if (nl < 0) return;
    start = nl + 1;
    bytes = 0;
  }
}

/** What a path is, for messages about files that are not regular files. */
function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Opens `file` for reading, refusing anything but a regular file: a directory, a named pipe or a
 * device such as /dev/zero is one clear error, not an endless read or a hang. The open does not
 * block, so a pipe with no writer is refused rather than waited on. The caller closes the handle.
 *
 * @example
 * ```ts
 * import { openRegularFile } from 'kotoba/node';
 * const { handle, size } = await openRegularFile('wiki3.kblm'); // 'kotoba: cannot read /dev/zero: it is a device, …'
 * await handle.close();
 * ```
 */
export async function openRegularFile(file: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle | undefined;
  try {
    handle = await fsp.open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const st = await handle.stat();
    if (!st.isFile()) throw new KotobaError(`cannot read ${file}: it is ${fileKind(st)}, not a regular file`, 'give the path of a file');
    return { handle, size: st.size };
  } catch (e) {
    await handle?.close();
    throw fileError(e, file);
  }
}

/**
 * The first `n` bytes of a regular file (fewer when it is shorter), to recognise its format.
 *
 * @example
 * ```ts
 * import { readHead } from 'kotoba/node';
 * const head = await readHead('model.safetensors', 64);
 * ```
 */
export async function readHead(file: string, n: number): Promise<Uint8Array> {
  const { handle } = await openRegularFile(file);
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await handle.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw fileError(e, file);
  } finally {
    await handle.close();
  }
}

/** Options for {@link readBytes}. */
export interface ReadBytesOptions {
  /** The most bytes the file may hold, gunzipped (default: the largest buffer Node makes). */
  maxBytes?: number;
  /** What the file is, for the message when it is larger (e.g. 'a mixture file'). */
  what?: string;
}

/**
 * A whole regular file (or stdin) as bytes, gunzipped when gzipped. Its size is checked before
 * anything is allocated: a directory, a pipe or a device is refused (see {@link openRegularFile}),
 * and so is a file, or a gzipped file's content, above `maxBytes`.
 *
 * @example
 * ```ts
 * import { deserializeModel } from 'kotoba';
 * import { readBytes } from 'kotoba/node';
 * const model = deserializeModel(await readBytes('wiki3.kblm'), 'wiki3.kblm');
 * const mixture = await readBytes('wiki.mix.json', { maxBytes: 1 << 20, what: 'a mixture file' });
 * ```
 */
export async function readBytes(file: string, options: ReadBytesOptions = {}): Promise<Uint8Array> {
  const max = options.maxBytes ?? bufferConstants.MAX_LENGTH;
  const tooLarge = (size: string) =>
    new KotobaError(`cannot read ${file}: ${options.what ?? 'a file read whole'} may hold at most ${max} bytes, and this one ${size}`, 'check that it is the right file');
  let data: Uint8Array;
  if (file === '-') {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const c of process.stdin) {
        total += (c as Buffer).length;
        if (total > max) throw tooLarge('holds more');
        chunks.push(c as Buffer);
      }
    } catch (e) {
      throw fileError(e, file);
    }
    data = Buffer.concat(chunks);
  } else {
    const { handle, size } = await openRegularFile(file);
    try {
      if (size > max) throw tooLarge(`holds ${size}`);
      data = await handle.readFile();
    } catch (e) {
      throw fileError(e, file);
    } finally {
      await handle.close();
    }
  }
  if (!isGzip(data)) return data;
  try {
    return gunzipSync(data, { maxOutputLength: max });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('holds more gunzipped');
    throw fileError(e, file);
  }
}

/**
 * Writes `chunk` to `stream`, waiting while the stream's buffer is full. Rejects with the
 * stream's error as soon as it fails: waiting for 'drain' alone hangs forever after a failed
 * write (a full disk, a closed pipe), and with nothing left to do Node then exits with status 0,
 * the output lost and no word said.
 *
 * @example
 * ```ts
 * import { writeChunk } from 'kotoba/node';
 * import { createWriteStream } from 'node:fs';
 * const file = createWriteStream('scores.tsv');
 * for (const line of ['-2.5\tthe cat\n', '-3.1\ta dog\n']) await writeChunk(file, line); // rejects on ENOSPC
 * ```
 */
export function writeChunk(stream: Writable, chunk: string | Uint8Array): Promise<void> {
  let failed = streamFailure(stream);
  if (failed) return Promise.reject(failed);
  const ready = stream.write(chunk);
  // Synchronous streams (stdout on Linux, files given to process.stdout) fail inside write().
  failed = streamFailure(stream);
  if (failed) return Promise.reject(failed);
  if (ready) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const settle = (error: Error | null) => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle(null);
    const onError = (e: Error) => settle(e);
    const onClose = () => settle(streamFailure(stream) ?? closedStream());
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/**
 * Resolves once everything written to `stream` so far has been handed to the system; rejects
 * with the error of any write that failed. For streams that are never ended, such as stdout.
 *
 * @example
 * ```ts
 * import { writeChunk, writesDone } from 'kotoba/node';
 * await writeChunk(process.stdout, 'Perplexity: 152.3\n');
 * await writesDone(process.stdout); // rejects when stdout is a full disk or a closed pipe
 * ```
 */
export function writesDone(stream: Writable): Promise<void> {
  const failed = streamFailure(stream);
  if (failed) return Promise.reject(failed);
  // Write callbacks run in order, so the callback of an empty write comes after all the others.
  return new Promise<void>((resolve, reject) => {
    stream.write('', (e) => (e ? reject(streamFailure(stream) ?? e) : resolve()));
  });
}

function streamFailure(stream: Writable): Error | null {
  if (stream.errored) return stream.errored;
  return stream.destroyed ? closedStream() : null;
}

const closedStream = () => Object.assign(new Error('the stream was closed before the write finished'), { code: 'ERR_STREAM_DESTROYED' });

/**
 * Temporary files are named `.NAME.HOST.PID.RANDOM.tmp` beside their target: the same folder (so
 * the final rename is atomic), hidden, and naming who wrote them, so that a later write can tell
 * a stale one (its writer died: kill -9, a crash, a power cut) from one being written right now.
 */
const TEMP_FILE = /^\.(.+)\.([A-Za-z0-9_-]{1,32})\.(\d{1,10})\.([0-9a-f]{8})\.tmp$/;

/** This machine's name as it appears in temporary file names. */
const HOST_TAG = (hostname().replace(/[^A-Za-z0-9_-]/g, '_') || 'host').slice(0, 32);

function tempPathFor(target: string): string {
  // A long target name is shortened so that the temporary name stays within NAME_MAX (255).
  const name = basename(target).slice(0, 160);
  return join(dirname(target), `.${name}.${HOST_TAG}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, but not ours to signal
  }
}

/**
 * Removes the temporary files that killed writes left in `dir`: only files of our exact naming
 * pattern, written on this machine (a process id means nothing on another host sharing the folder)
 * by a process that no longer runs. Best effort: a folder we cannot list is left alone.
 *
 * We clean up on the next write rather than write where a crash leaves nothing behind: that
 * needs O_TMPFILE and linkat (Linux only, not in Node), and a temporary file in another folder
 * (/tmp) cannot be renamed atomically onto a different file system.
 *
 * @example
 * ```ts
 * import { removeStaleTempFiles } from 'kotoba/node';
 * const removed = await removeStaleTempFiles('models'); // ['models/.wiki5.arpa.node1.4242.0f3a9c1e.tmp']
 * ```
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fsp.readdir(dir || '.');
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_FILE.exec(name);
    if (!m || m[2] !== HOST_TAG || isRunning(Number(m[3]))) continue;
    const path = join(dir, name);
    try {
      if (!(await fsp.lstat(path)).isFile()) continue;
      await fsp.unlink(path);
      removed.push(path);
    } catch {
      // Gone already (another process cleaned it) or not ours to remove: either way, not an error.
    }
  }
  return removed;
}

/**
 * Writes `target` atomically: `write` fills a temporary file beside it, which is flushed to disk
 * (fsync) and renamed over `target` only when everything succeeded. On any failure (a full disk, an I/O
 * error, an exception in `write`) the temporary file is removed, the old `target`, if any, is
 * untouched, and the error is one line naming `target` and the cause. Gzips when `target` ends in
 * `.gz`. Stale temporary files of killed writes in the same folder are removed first.
 *
 * `-` is standard output, written as it comes (a pipe has nothing to rename): a failure there
 * leaves what was written so far and rejects with one line naming `<stdout>`.
 *
 * With `large` (a model or count file, possibly gigabytes), an uncompressed file goes around the
 * page cache where the file system allows it (see DirectFile): the same bytes, less CPU.
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
  options: { large?: boolean } = {},
): Promise<void> {
  if (target === '-') {
    try {
      await write((chunk) => writeChunk(process.stdout, chunk));
      await writesDone(process.stdout);
    } catch (e) {
      throw isSystemError(e) ? fileError(e, '<stdout>', 'write') : e;
    }
    return;
  }
  const dir = dirname(target);
  await removeStaleTempFiles(dir);
  const tmp = tempPathFor(target);
  let file: TempFile;
  try {
    file = (options.large && !target.endsWith('.gz') && directFile(tmp)) || (await streamFile(tmp, target.endsWith('.gz')));
  } catch (e) {
    throw fileError(e, target, 'write');
  }
  try {
    await write(file.write);
    await file.finish();
    await fsp.rename(tmp, target);
  } catch (e) {
    await file.abort();
    await fsp.rm(tmp, { force: true });
    throw isSystemError(e) ? fileError(e, target, 'write') : e;
  }
  await syncFolder(dir);
}

/** A temporary file being written: `finish` flushes it to disk and closes it; `abort` closes it. */
interface TempFile {
  write(chunk: string | Uint8Array): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

/** `tmp` written around the page cache (see DirectFile), or null where its file system cannot. */
function directFile(tmp: string): TempFile | null {
  const file = DirectFile.create(tmp);
  return (
    file && {
      write: (chunk) => file.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk),
      finish: () => file.close(),
      abort: () => file.abandon(),
    }
  );
}

/** `tmp` written through a stream (gzipped with `gzip`), flushed as it goes. */
async function streamFile(tmp: string, gzip: boolean): Promise<TempFile> {
  // flush: fsync before close, so the bytes are on disk before the name points at them. Without
  // it a crash soon after the rename can leave an empty or partial file under the final name
  // (ext4 and XFS allocate late); it also surfaces errors that some file systems report only
  // when flushing (NFS, quotas).
  const file = createWriteStream(tmp, { flags: 'wx', flush: true, highWaterMark: 1 << 20 });
  const fd = await new Promise<number>((resolve, reject) => {
    file.once('open', resolve);
    file.once('error', reject);
  });
  const zip = gzip ? createGzip({ level: 6 }) : null;
  const sink: Writable = zip ?? file;
  const done = zip ? pipeline(zip, file) : finished(file); // after the fsync and the close
  done.catch(() => {}); // awaited by finish; until then, a failure shows in the next write
  const flusher = new BackgroundFlush(fd, file);
  return {
    write: async (chunk) => {
      await writeChunk(sink, chunk);
      flusher.wrote(typeof chunk === 'string' ? chunk.length : chunk.byteLength);
    },
    finish: async () => {
      sink.end();
      await done;
      flusher.check();
    },
    abort: async () => {
      sink.destroy();
      if (!file.closed) await new Promise<void>((resolve) => file.destroy().once('close', () => resolve()));
    },
  };
}

/**
 * Flushes a file being written in the background, every FLUSH_EVERY bytes (fdatasync in the
 * thread pool, one at a time), so that the fsync before the rename finds little left to write: a
 * model of gigabytes is not flushed all at the end, while the user waits. An error of a flush is
 * reported by the next write, or by `check`.
 */
export class BackgroundFlush {
  private unflushed = 0;
  private flushing = false;
  private error: unknown = null;
  constructor(
    private readonly fd: number,
    private readonly file: { readonly closed: boolean },
  ) {}
  /** Counts `bytes` written; starts a flush once enough are. */
  wrote(bytes: number): void {
    this.check();
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_EVERY || this.flushing || this.file.closed) return;
    this.unflushed = 0;
    this.flushing = true;
    fdatasync(this.fd, (e) => {
      this.flushing = false;
      // EBADF: the file was closed meanwhile (an error elsewhere ended the write).
      if (e && e.code !== 'EBADF') this.error ??= e;
    });
  }
  /** Throws the error of a flush, if one failed. */
  check(): void {
    if (this.error) throw this.error;
  }
}

const FLUSH_EVERY = 64 << 20;

/** An error from the operating system or a stream (it has a code), as opposed to a bug or a KotobaError. */
const isSystemError = (e: unknown): boolean => !(e instanceof KotobaError) && typeof (e as NodeJS.ErrnoException)?.code === 'string';

/**
 * Makes a rename durable by flushing its folder. Atomicity does not need it (after a crash the
 * name holds the old file or the new one), so it is best effort: some systems cannot open folders.
 */
async function syncFolder(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await fsp.open(dir || '.', 'r');
    await handle.sync();
  } catch {
    // not supported here (Windows) or not permitted: the rename stands
  } finally {
    await handle?.close().catch(() => {});
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
