/**
 * Opening any model file as a LanguageModel: n-gram files (ARPA, gzipped ARPA, kotoba binary)
 * here; other families (neural safetensors, mixtures) register a loader.
 */
import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import type { LanguageModel } from '../lm.js';
import { readHead } from './io.js';
import { loadNgramModel, type NgramLoadOptions } from './ngram-files.js';

/** How a model is opened, beyond its file. */
export interface LoadOptions extends NgramLoadOptions {
  /** Kernel threads of a neural model (default 1; 'auto': all cores). Other families ignore it. */
  threads?: number | 'auto';
}

/** How to recognise and open one family of model files, for `loadModel`. */
export interface ModelLoader {
  /** True when this loader reads the file (from its first bytes and name). */
  accepts(head: Uint8Array, path: string): boolean;
  load(path: string, warn: (m: string) => void, options?: LoadOptions): Promise<LanguageModel<unknown>>;
  /** The other model files this one names (a mixture's components), as paths to open. */
  references?(path: string): Promise<string[]>;
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

/** The first bytes of a model file, to recognise its format (a regular file only: never a pipe). */
function head(path: string): Promise<Uint8Array> {
  return readHead(path, 64);
}

/**
 * Opens a model of any registered family; n-gram files are the default.
 *
 * @example
 * ```ts
 * import { scoreTokens } from 'kotoba';
 * import { loadModel, readCorpus } from 'kotoba/node';
 * const model = await loadModel('wiki.mix.json'); // ARPA, .kblm, a neural model or a mixture
 * const test = await readCorpus('wiki.test.txt', { ...model.text, vocab: model.vocab }); // read as the model's text was
 * console.log(model.description, scoreTokens(model, test.tokens).perplexity);
 * const lstm = await loadModel('lstm.safetensors', console.warn, { threads: 'auto' }); // kernels on every core
 * ```
 */
export async function loadModel(path: string, warn: (m: string) => void = () => {}, options: LoadOptions = {}): Promise<LanguageModel<unknown>> {
  const h = await head(path);
  for (const l of loaders) if (l.accepts(h, path)) return l.load(path, warn, options);
  return (await loadNgramModel(path, warn, options)) as LanguageModel<unknown>;
}

/**
 * Every file that opening the model at `path` reads: the file itself and, for a mixture, the
 * models it names, recursively (each once). For checking, before any work, that an output does
 * not overwrite one of them. Files that are missing or not regular files are listed but not opened.
 *
 * @example
 * ```ts
 * import { modelFiles } from 'kotoba/node';
 * await modelFiles('wiki.mix.json'); // ['wiki.mix.json', '/models/wiki3.kblm', '/models/wiki1.arpa']
 * ```
 */
export async function modelFiles(path: string): Promise<string[]> {
  const files: string[] = [];
  const seen = new Set<string>();
  const queue = [path];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const key = resolve(next);
    if (seen.has(key)) continue;
    seen.add(key);
    files.push(next);
    const isFile = await fsp.stat(next).then((s) => s.isFile(), () => false);
    if (!isFile) continue;
    const h = await head(next).catch(() => null);
    const loader = h && loaders.find((l) => l.accepts(h, next!));
    // An unreadable reference is reported when the model is opened, with its context.
    if (loader?.references) queue.push(...(await loader.references(next).catch(() => [])));
  }
  return files;
}
