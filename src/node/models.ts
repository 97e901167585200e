/**
 * Opening any model file as a LanguageModel: n-gram files (ARPA, gzipped ARPA, kotoba binary)
 * here; other families (neural safetensors, mixtures) register a loader.
 */
import { promises as fsp } from 'node:fs';
import type { LanguageModel } from '../lm.js';
import { fileError } from './io.js';
import { loadNgramModel, type NgramLoadOptions } from './ngram-files.js';

/** How to recognise and open one family of model files, for `loadModel`. */
export interface ModelLoader {
  /** True when this loader reads the file (from its first bytes and name). */
  accepts(head: Uint8Array, path: string): boolean;
  load(path: string, warn: (m: string) => void): Promise<LanguageModel<unknown>>;
}

const loaders: ModelLoader[] = [];

/**
 * Adds a loader that `loadModel` asks before falling back to n-gram files.
 *
 * @example
 * ```ts
 * import type { LanguageModel } from 'kotoba';
 * import { loadModel, registerModelLoader } from 'kotoba/node';
 * declare function openCacheModel(path: string): Promise<LanguageModel>;
 * registerModelLoader({ accepts: (_head, path) => path.endsWith('.cache-lm'), load: openCacheModel });
 * const model = await loadModel('news.cache-lm');
 * ```
 */
export function registerModelLoader(loader: ModelLoader): void {
  loaders.push(loader);
}

async function head(path: string): Promise<Uint8Array> {
  let fh;
  try {
    fh = await fsp.open(path, 'r');
    const buf = new Uint8Array(64);
    const { bytesRead } = await fh.read(buf, 0, 64, 0);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw fileError(e, path);
  } finally {
    await fh?.close();
  }
}

/**
 * Opens a model of any registered family; n-gram files are the default.
 *
 * @example
 * ```ts
 * import { scoreTokens } from 'kotoba';
 * import { loadModel, readCorpus } from 'kotoba/node';
 * const model = await loadModel('wiki.mix.json'); // ARPA, .kblm, a neural model or a mixture
 * const test = await readCorpus('wiki.test.txt', { vocab: model.vocab });
 * console.log(model.description, scoreTokens(model, test.tokens).perplexity);
 * ```
 */
export async function loadModel(path: string, warn: (m: string) => void = () => {}, options: NgramLoadOptions = {}): Promise<LanguageModel<unknown>> {
  const h = await head(path);
  for (const l of loaders) if (l.accepts(h, path)) return l.load(path, warn);
  return (await loadNgramModel(path, warn, options)) as LanguageModel<unknown>;
}
