/**
 * Mixture files: a small JSON file naming the component models (paths relative to the mixture
 * file, so a folder of models moves as one) and their weights. `loadModel` opens it like any
 * model once this module is imported (it registers its loader).
 *
 *   {
 *     "format": "kotoba-mixture",
 *     "version": 1,
 *     "components": [ { "path": "wiki3.kblm", "weight": 0.62 }, { "path": "wiki1.arpa", "weight": 0.38 } ],
 *     "text": { "lowercase": false, "segment": null },
 *     "tuning": { … how the weights were found … }
 *   }
 *
 * `text` (optional) is how the mixture reads text: its components' text options, or for
 * components that do not store theirs, the options the mixture was made with.
 */
import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { jsonErrorDetail, KotobaError, printable } from '../errors.js';
import type { LanguageModel } from '../lm.js';
import { checkWeights, MixtureModel, sharedTextOptions } from '../apps/mixture.js';
import { describeTextOptions, sameTextOptions, textOptionsFromJson, textOptionsToJson, type TextOptionsJson } from '../text/text-options.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { fileError, readBytes, readHead, writeFileAtomic } from './io.js';
import { loadModel, registerModelLoader, type LoadOptions, type ModelLoader } from './models.js';

export const MIXTURE_FORMAT = 'kotoba-mixture';
export const MIXTURE_VERSION = 1;

export interface MixtureFile {
  format: typeof MIXTURE_FORMAT;
  version: number;
  components: { path: string; weight: number }[];
  /** How the mixture reads text (absent when unknown). */
  text?: TextOptionsJson;
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
 * working folder) with their `weights` and the `text` options it reads text with, atomically.
 *
 * @example
 * ```ts
 * import { saveMixture } from 'kotoba/node';
 * await saveMixture('wiki.mix.json', ['wiki3.kblm', 'wiki1.arpa'], [0.6, 0.4], undefined, { lowercase: true });
 * ```
 */
export async function saveMixture(path: string, components: readonly string[], weights: ArrayLike<number>, tuning?: unknown, text?: TokenizeOptions): Promise<void> {
  if (components.length !== weights.length) throw new KotobaError(`${weights.length} weights for ${components.length} models`);
  const file: MixtureFile = {
    format: MIXTURE_FORMAT,
    version: MIXTURE_VERSION,
    components: components.map((c, i) => ({ path: relativePath(path, c), weight: weights[i]! })),
  };
  if (text) file.text = textOptionsToJson(text);
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
    throw new KotobaError(`${path}: not valid JSON: ${jsonErrorDetail(e, text)}`, 'a mixture file is the JSON that kotoba interpolate -o writes');
  }
  const d = data as Partial<MixtureFile>;
  if (d === null || typeof d !== 'object' || d.format !== MIXTURE_FORMAT) {
    throw new KotobaError(`${path}: not a kotoba mixture file (no "format": "${MIXTURE_FORMAT}")`, 'make one with kotoba interpolate … -o MIX');
  }
  if (d.version !== MIXTURE_VERSION) {
    throw new KotobaError(`${path}: mixture file version ${printable(String(d.version).slice(0, 20))}, this kotoba reads version ${MIXTURE_VERSION}`, 'upgrade kotoba, or rebuild the mixture with this one');
  }
  if (!Array.isArray(d.components) || d.components.length === 0) throw new KotobaError(`${path}: "components" must be a non-empty list`);
  for (const [i, c] of d.components.entries()) {
    if (!c || typeof c.path !== 'string' || typeof c.weight !== 'number') {
      throw new KotobaError(`${path}: component ${i + 1} needs a "path" (string) and a "weight" (number)`);
    }
    // A path no system opens: empty, with control characters, longer than PATH_MAX.
    if (c.path === '' || c.path.length > 4096 || /[\u0000-\u001f\u007f-\u009f]/.test(c.path)) {
      throw new KotobaError(`${path}: component ${printable(c.path.slice(0, 60))}: not a path any system opens (empty, with control characters, or over 4096 characters)`, 'component paths are relative to the mixture file');
    }
  }
  return d as MixtureFile;
}

/** The largest mixture file read: a list of paths and weights (with its tuning record) is small. */
export const MAX_MIXTURE_BYTES = 1 << 20;
/** How deep mixtures may name mixtures: the file given is depth 1. */
export const MAX_MIXTURE_DEPTH = 8;

/** A model file a mixture names (through any depth), once per real path. */
interface Leaf {
  /** The path to open, as resolved from the mixture that first named it. */
  path: string;
  /** For messages: that mixture file and the component path written in it. */
  mixture: string;
  named: string;
}

/**
 * Opens a mixture file: the components with `loadModel` (any family), then the mixture.
 *
 * Mixtures may name mixtures. The tree is flattened into one mixture of the distinct model files
 * at its leaves, each weighted by the sum over the paths to it of the products of the weights —
 * the same probabilities, exactly — so each file is read and loaded once, however often it is
 * named: a model listed twice is one component with the two weights added. A mixture that names
 * itself (through any chain), or nesting deeper than {@link MAX_MIXTURE_DEPTH}, is refused.
 *
 * @example
 * ```ts
 * import { loadMixture } from 'kotoba/node';
 * const mix = await loadMixture('wiki.mix.json');
 * mix.weights; // Float64Array [0.6, 0.4]
 * ```
 */
export async function loadMixture(path: string, warn: (m: string) => void = () => {}, options: LoadOptions = {}): Promise<MixtureModel> {
  const walk: Walk = { open: [], done: new Map(), leaves: new Map(), files: new Map(), texts: [] };
  const flat = await flatten(path, await realPath(path), 1, walk);
  const models: LanguageModel<unknown>[] = [];
  const names: string[] = [];
  for (const real of flat.keys()) {
    const leaf = walk.leaves.get(real)!;
    try {
      models.push(await loadModel(leaf.path, warn, options));
    } catch (e) {
      throw componentError(e, leaf.mixture, leaf.named);
    }
    names.push(leaf.named);
  }
  let own: TokenizeOptions | undefined;
  try {
    own = sharedTextOptions(models, names);
  } catch (e) {
    throw e instanceof KotobaError ? new KotobaError(`${path}: ${e.problem}`, e.hint) : e;
  }
  // Every mixture file in the tree that records text options must agree with its leaves.
  for (const recorded of walk.texts) {
    if (own && !sameTextOptions(own, recorded.text)) {
      throw new KotobaError(
        `${recorded.path}: the mixture was made for text read with ${describeTextOptions(recorded.text)}, but its components now read it with ${describeTextOptions(own)}`,
        'a component was replaced since: make the mixture again with kotoba interpolate',
      );
    }
  }
  const mix = new MixtureModel(models, [...flat.values()]);
  const top = walk.texts.find((t) => t.depth === 1);
  if (top) mix.text = top.text;
  return mix;
}

/** A mixture file read (at most {@link MAX_MIXTURE_BYTES}) and checked. */
async function readMixtureFile(path: string): Promise<MixtureFile> {
  return parseMixtureFile(new TextDecoder().decode(await readBytes(path, { maxBytes: MAX_MIXTURE_BYTES, what: 'a mixture file' })), path);
}

/** Where a component path written in a mixture file points: relative to the mixture's folder. */
function componentPath(mixturePath: string, written: string): string {
  return isAbsolute(written) ? written : join(dirname(mixturePath), written);
}

async function realPath(path: string): Promise<string> {
  try {
    return await fsp.realpath(path);
  } catch (e) {
    throw fileError(e, path);
  }
}

/** An error about a component, named as the mixture file writes it. */
function componentError(e: unknown, mixture: string, named: string): unknown {
  if (!(e instanceof KotobaError)) return e;
  const hint = e.hint === 'check the path' ? 'component paths are relative to the mixture file' : e.hint;
  return new KotobaError(`${mixture}: component ${printable(named.slice(0, 200))}: ${e.problem}`, hint);
}

/** The state of one walk over a tree of mixtures. */
interface Walk {
  /** Real paths of the mixtures being read, outermost first (a cycle returns to one). */
  open: string[];
  /** Mixtures read: their leaves' weights by real path. */
  done: Map<string, Map<string, number>>;
  /** Each model file's first mention, by real path. */
  leaves: Map<string, Leaf>;
  /** Each component path seen: its real path, and whether it is a mixture. */
  files: Map<string, { real: string; mixture: boolean }>;
  /** The text options each mixture file records, with its depth (the file given is 1). */
  texts: { path: string; depth: number; text: TokenizeOptions }[];
}

/** The weights of the model files under mixture `path` (real path `real`), by real path. */
async function flatten(path: string, real: string, depth: number, walk: Walk): Promise<Map<string, number>> {
  const { open, done, leaves, files } = walk;
  const known = done.get(real);
  if (known) return known;
  if (open.includes(real)) throw new KotobaError(`${path}: the mixture names itself (directly or through another mixture)`, 'a mixture names model files or other mixtures');
  if (depth > MAX_MIXTURE_DEPTH) throw new KotobaError(`${path}: mixtures nested more than ${MAX_MIXTURE_DEPTH} deep`, 'name the models in fewer levels of mixtures');
  const file = await readMixtureFile(path);
  let weights: Float64Array;
  try {
    weights = checkWeights(file.components.map((c) => c.weight), file.components.length);
  } catch (e) {
    throw e instanceof KotobaError ? new KotobaError(`${path}: ${e.problem}`, e.hint) : e;
  }
  if (file.text !== undefined) walk.texts.push({ path, depth, text: textOptionsFromJson(file.text, path) });
  open.push(real);
  const flat = new Map<string, number>();
  const add = (leaf: string, w: number) => flat.set(leaf, (flat.get(leaf) ?? 0) + w);
  for (const [i, c] of file.components.entries()) {
    const p = componentPath(path, c.path);
    let target = files.get(p);
    try {
      target ??= { real: await realPath(p), mixture: mixtureLoader.accepts(await readHead(p, 64), p) };
    } catch (e) {
      throw componentError(e, path, c.path);
    }
    files.set(p, target);
    const leaf = target.real;
    if (target.mixture) {
      for (const [l, w] of await flatten(p, leaf, depth + 1, walk)) add(l, weights[i]! * w);
    } else {
      if (!leaves.has(leaf)) leaves.set(leaf, { path: p, mixture: path, named: c.path });
      add(leaf, weights[i]!);
    }
  }
  open.pop();
  done.set(real, flat);
  return flat;
}

/**
 * Recognises mixture files by their first bytes: a JSON object (no other model file starts with
 * `{`), so that a mixture whose "format" is not first, or is wrong, gets the mixture reader's
 * message rather than the ARPA reader's.
 */
export const mixtureLoader: ModelLoader = {
  accepts(head) {
    return /^\s*\{/.test(new TextDecoder().decode(head));
  },
  load: loadMixture,
  references: async (path) => (await readMixtureFile(path)).components.map((c) => componentPath(path, c.path)),
};

registerModelLoader(mixtureLoader);
