/** N-gram model files: ARPA (plain or .gz) and kotoba's binary format, chosen by extension / magic. */
import { KotobaError } from '../errors.js';
import { ArpaReader, TablesSink, writeArpa } from '../ngram/arpa.js';
import { BINARY_EXTENSION, deserializeModel, isBinaryModel, serializeModel } from '../ngram/binary.js';
import { BackoffModel, modelFromArpaChunks } from '../ngram/model.js';
import { modelBuffer } from '../ngram/wasm-memory.js';
import type { NgramTables } from '../ngram/tables.js';
import { fileChunks } from './batches.js';
import { byteChunks, fileError, isGzip, openRegularFile, readBytes, writeAtomic } from './io.js';

/** The n-gram file formats: ARPA text (plain or gzipped) and kotoba's binary format. */
export type NgramFormat = 'arpa' | 'binary';

/**
 * Format for a model path, from its extension.
 *
 * @example
 * ```ts
 * // runs
 * import { formatForPath } from 'kotoba/node';
 * formatForPath('wiki3.arpa.gz'); // 'arpa'
 * formatForPath('wiki3.kblm');    // 'binary'
 * formatForPath('-');             // 'arpa': standard output takes ARPA text
 * ```
 */
export function formatForPath(path: string): NgramFormat {
  if (path === '-') return 'arpa';
  if (path.endsWith(BINARY_EXTENSION)) return 'binary';
  if (path.endsWith('.arpa') || path.endsWith('.arpa.gz') || path.endsWith('.lm') || path.endsWith('.lm.gz')) return 'arpa';
  throw new KotobaError(
    `cannot tell the model format of ${path} from its name`,
    `end it in .arpa, .arpa.gz or ${BINARY_EXTENSION}, or give - for ARPA text on standard output`,
  );
}

/**
 * Reads an n-gram model file (ARPA, gzipped ARPA or binary) as tables.
 *
 * @example
 * ```ts
 * import { readNgramTables } from 'kotoba/node';
 * const tables = await readNgramTables('srilm.lm.gz', console.warn);
 * tables.orders.map((o) => o.size); // n-grams per order
 * ```
 */
export async function readNgramTables(path: string, warn?: (m: string) => void): Promise<NgramTables> {
  const { binary, maxBytes } = await openModelFile(path);
  if (binary) return deserializeModel(binary, path).toTables();
  const sink = new TablesSink();
  const reader = new ArpaReader(sink, { source: path, maxBytes, ...(warn ? { warn } : {}) });
  for await (const chunk of byteChunks(path)) reader.push(chunk);
  reader.end();
  return sink.tables(reader.description, reader.text);
}

/** Options for {@link loadNgramModel}. */
export interface NgramLoadOptions {
  /** Keep the structure in a SharedArrayBuffer, to share it with worker threads. */
  shared?: boolean;
}

/**
 * Opens an n-gram model for querying: a binary file is read once and used in place; an ARPA file
 * (plain or gzipped) streams into the query structure, never held whole in memory.
 *
 * @example
 * ```ts
 * import { loadNgramModel } from 'kotoba/node';
 * const model = await loadNgramModel('wiki3.kblm'); // or .arpa, .arpa.gz
 * const { log10 } = model.score(model.begin(), model.vocab.id('the'));
 * ```
 */
export async function loadNgramModel(path: string, warn?: (m: string) => void, options: NgramLoadOptions = {}): Promise<BackoffModel> {
  const { binary, maxBytes } = await openModelFile(path, options.shared);
  if (binary) return deserializeModel(binary, path);
  return modelFromArpaChunks(() => fileChunks(path), { source: path, maxBytes, shared: options.shared === true, ...(warn ? { warn } : {}) });
}

/** Deflate's largest compression ratio: a gzipped file's content is at most this many times its size. */
const GZIP_MAX_RATIO = 1032;

/**
 * A model file opened (a regular file only, or stdin): its bytes when it holds a binary model
 * (gzipped or not), else null, and a bound on the bytes of its (ARPA) text. A plain binary file
 * is read in one go (into a SharedArrayBuffer when `shared`).
 */
async function openModelFile(path: string, shared = false): Promise<{ binary: Uint8Array | null; maxBytes: number }> {
  if (path === '-') return { binary: null, maxBytes: Infinity };
  const { handle, size } = await openRegularFile(path);
  try {
    const head = new Uint8Array(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    const gzip = isGzip(head.subarray(0, bytesRead));
    if (gzip) {
      // A gzipped binary model (rare): look at the first decompressed bytes before reading it all.
      const chunks = byteChunks(path);
      const first = await chunks.next();
      await chunks.return(undefined);
      return { binary: !first.done && isBinaryModel(first.value) ? await readBytes(path) : null, maxBytes: size * GZIP_MAX_RATIO };
    }
    if (!isBinaryModel(head.subarray(0, bytesRead))) return { binary: null, maxBytes: size };
    // Read into the memory the WebAssembly scorer reads (shared with worker threads when asked).
    const bytes = modelBuffer(size, shared);
    for (let at = 0; at < size; ) {
      const { bytesRead: n } = await handle.read(bytes, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return { binary: bytes, maxBytes: size };
  } catch (e) {
    throw fileError(e, path);
  } finally {
    await handle.close();
  }
}

/**
 * Writes tables (or a model) to `path` in the format its extension names, atomically.
 *
 * @example
 * ```ts
 * import { estimate } from 'kotoba';
 * import { readCorpus, saveNgramModel } from 'kotoba/node';
 * const tables = estimate(await readCorpus('wiki.train.txt'), { order: 3 });
 * await saveNgramModel('wiki3.arpa', tables);
 * await saveNgramModel('wiki3.kblm', tables); // the binary format, for fast loading
 * ```
 */
export async function saveNgramModel(path: string, model: NgramTables | BackoffModel): Promise<void> {
  if (formatForPath(path) === 'binary') {
    const m = model instanceof BackoffModel ? model : BackoffModel.fromTables(model);
    const chunks = serializeModel(m);
    await writeAtomic(
      path,
      async (out) => {
        for (const c of chunks) await out(c);
      },
      { large: true },
    );
  } else {
    const tables = model instanceof BackoffModel ? model.toTables() : model;
    await writeAtomic(path, (out) => writeArpa(tables, out), { large: true });
  }
}
