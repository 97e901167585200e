/**
 * Mixture files: a small JSON file naming the component models (paths relative to the mixture
 * file, so a folder of models moves as one) and their weights. `loadModel` opens it like any
 * model once this module is imported (it registers its loader).
 *
 *   {
 *     "format": "kotoba-mixture",
 *     "version": 1,
 *     "components": [ { "path": "wiki3.kblm", "weight": 0.62 }, { "path": "wiki1.arpa", "weight": 0.38 } ],
 *     "tuning": { … how the weights were found … }
 *   }
 */
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { KotobaError } from '../errors.js';
import type { LanguageModel } from '../lm.js';
import { MixtureModel } from '../apps/mixture.js';
import { readBytes, writeFileAtomic } from './io.js';
import { loadModel, registerModelLoader, type LoadOptions, type ModelLoader } from './models.js';

export const MIXTURE_FORMAT = 'kotoba-mixture';
export const MIXTURE_VERSION = 1;

export interface MixtureFile {
  format: typeof MIXTURE_FORMAT;
  version: number;
  components: { path: string; weight: number }[];
  /** Free-form record of how the weights were chosen (EM iterations, dev perplexity). */
  tuning?: unknown;
}

/** Component paths as written in the file: relative to its folder, with forward slashes. */
function relativePath(mixturePath: string, componentPath: string): string {
  const rel = relative(dirname(resolve(mixturePath)), resolve(componentPath));
  return sep === '/' ? rel : rel.split(sep).join('/');
}

/**
 * Writes a mixture file naming `components` (paths as the user gave them, relative to the
 * working folder) with their `weights`, atomically.
 *
 * @example
 * ```ts
 * import { saveMixture } from 'kotoba/node';
 * await saveMixture('wiki.mix.json', ['wiki3.kblm', 'wiki1.arpa'], [0.6, 0.4]);
 * ```
 */
export async function saveMixture(path: string, components: readonly string[], weights: ArrayLike<number>, tuning?: unknown): Promise<void> {
  if (components.length !== weights.length) throw new KotobaError(`${weights.length} weights for ${components.length} models`);
  const file: MixtureFile = {
    format: MIXTURE_FORMAT,
    version: MIXTURE_VERSION,
    components: components.map((c, i) => ({ path: relativePath(path, c), weight: weights[i]! })),
  };
  if (tuning !== undefined) file.tuning = tuning;
  await writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n');
}

/**
 * Parses and checks a mixture file's text.
 *
 * @example
 * ```ts
 * // runs
 * import { parseMixtureFile } from 'kotoba/node';
 * const file = parseMixtureFile('{"format":"kotoba-mixture","version":1,"components":[{"path":"a.arpa","weight":1}]}', 'a.mix.json');
 * if (file.components[0]!.path !== 'a.arpa') throw new Error('parsed');
 * ```
 */
export function parseMixtureFile(text: string, path: string): MixtureFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new KotobaError(`${path}: not valid JSON (${(e as Error).message})`, 'a mixture file is the JSON that kotoba interpolate -o writes');
  }
  const d = data as Partial<MixtureFile>;
  if (d === null || typeof d !== 'object' || d.format !== MIXTURE_FORMAT) {
    throw new KotobaError(`${path}: not a kotoba mixture file (no "format": "${MIXTURE_FORMAT}")`, 'make one with kotoba interpolate … -o MIX');
  }
  if (d.version !== MIXTURE_VERSION) {
    throw new KotobaError(`${path}: mixture file version ${String(d.version)}, this kotoba reads version ${MIXTURE_VERSION}`, 'upgrade kotoba, or rebuild the mixture with this one');
  }
  if (!Array.isArray(d.components) || d.components.length === 0) throw new KotobaError(`${path}: "components" must be a non-empty list`);
  for (const [i, c] of d.components.entries()) {
    if (!c || typeof c.path !== 'string' || typeof c.weight !== 'number') {
      throw new KotobaError(`${path}: component ${i + 1} needs a "path" (string) and a "weight" (number)`);
    }
  }
  return d as MixtureFile;
}

// Mixtures may name mixtures; a cycle would otherwise recurse forever.
const opening = new Set<string>();

/**
 * Opens a mixture file: each component with `loadModel` (any family), then the mixture.
 *
 * @example
 * ```ts
 * import { loadMixture } from 'kotoba/node';
 * const mix = await loadMixture('wiki.mix.json');
 * mix.weights; // Float64Array [0.6, 0.4]
 * ```
 */
export async function loadMixture(path: string, warn: (m: string) => void = () => {}, options: LoadOptions = {}): Promise<MixtureModel> {
  const full = resolve(path);
  if (opening.has(full)) throw new KotobaError(`${path}: the mixture names itself (directly or through another mixture)`);
  const text = new TextDecoder().decode(await readBytes(path));
  const file = parseMixtureFile(text, path);
  opening.add(full);
  try {
    const models: LanguageModel<unknown>[] = [];
    for (const c of file.components) {
      const p = isAbsolute(c.path) ? c.path : resolve(dirname(full), c.path);
      try {
        models.push(await loadModel(p, warn, options));
      } catch (e) {
        if (e instanceof KotobaError) throw new KotobaError(`${path}: component ${c.path}: ${e.message}`, 'component paths are relative to the mixture file');
        throw e;
      }
    }
    return new MixtureModel(
      models,
      file.components.map((c) => c.weight),
    );
  } finally {
    opening.delete(full);
  }
}

/** Recognises mixture files by their first bytes: a JSON object naming the format. */
export const mixtureLoader: ModelLoader = {
  accepts(head) {
    const text = new TextDecoder().decode(head);
    return /^\s*\{/.test(text) && text.includes(`"${MIXTURE_FORMAT}"`);
  },
  load: loadMixture,
};

registerModelLoader(mixtureLoader);
