/** N-gram model files: ARPA (plain or .gz) and kotoba's binary format, chosen by extension / magic. */
import { KotobaError } from '../errors.js';
import { parseArpaBytes, writeArpa } from '../ngram/arpa.js';
import { BINARY_EXTENSION, deserializeModel, isBinaryModel, serializeModel } from '../ngram/binary.js';
import { BackoffModel } from '../ngram/model.js';
import type { NgramTables } from '../ngram/tables.js';
import { readBytes, writeAtomic } from './io.js';

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
 * ```
 */
export function formatForPath(path: string): NgramFormat {
  if (path.endsWith(BINARY_EXTENSION)) return 'binary';
  if (path.endsWith('.arpa') || path.endsWith('.arpa.gz') || path.endsWith('.lm') || path.endsWith('.lm.gz')) return 'arpa';
  throw new KotobaError(
    `cannot tell the model format of ${path} from its name`,
    `end it in .arpa, .arpa.gz or ${BINARY_EXTENSION}`,
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
  const bytes = await readBytes(path);
  if (isBinaryModel(bytes)) return deserializeModel(bytes, path).toTables();
  return parseArpaBytes(bytes, { source: path, ...(warn ? { warn } : {}) });
}

/**
 * Opens an n-gram model for querying: binary files load directly, ARPA files are parsed.
 *
 * @example
 * ```ts
 * import { loadNgramModel } from 'kotoba/node';
 * const model = await loadNgramModel('wiki3.kblm'); // or .arpa, .arpa.gz
 * const { log10 } = model.score(model.begin(), model.vocab.id('the'));
 * ```
 */
export async function loadNgramModel(path: string, warn?: (m: string) => void): Promise<BackoffModel> {
  // One read: readBytes gunzips when needed, and a binary file is used in place.
  const bytes = await readBytes(path);
  if (isBinaryModel(bytes)) return deserializeModel(bytes, path);
  return BackoffModel.fromTables(parseArpaBytes(bytes, { source: path, ...(warn ? { warn } : {}) }));
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
    await writeAtomic(path, async (out) => {
      for (const c of chunks) await out(c);
    });
  } else {
    const tables = model instanceof BackoffModel ? model.toTables() : model;
    await writeAtomic(path, (out) => writeArpa(tables, out));
  }
}
