/** What the commands share: logging conventions, common options, number formats, output. */
import { KotobaError } from '../errors.js';
import type { Context, LanguageModel } from '../lm.js';
import type { Logger } from '../ngram/estimate.js';
import { formatFloat32 } from '../util/float32.js';
import type { CorpusOptions } from '../text/corpus.js';
import { checkSegmentLocale } from '../text/segment.js';
import { describeTextOptions } from '../text/text-options.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import type { OptionSpecs, Parsed, Syntax } from './args.js';
import type { EstimationJob } from './relaunch.js';
import { readWordList } from '../node/corpus-files.js';
import { DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES_LIMIT, type LineOptions } from '../node/io.js';
import type { CommandFiles } from '../node/outputs.js';
import { loadModel } from '../node/models.js';
import { defaultThreads, type RunOptions } from '../node/workers.js';
import { BackoffModel } from '../ngram/model.js';
import { MAX_THREADS } from '../neural/kernels/types.js';

export interface Command extends Syntax {
  summary: string;
  examples: string[];
  /** The files the command reads and writes, checked before `run` (checkOutputs): no output may be an input. */
  files?(parsed: Parsed): CommandFiles;
  /** The n-gram estimation this command line runs, if any: the executable may run it again under relaunch.ts's settings. */
  estimation?(parsed: Parsed): EstimationJob | null;
  run(parsed: Parsed, io: CommandIO): Promise<void>;
}

export interface CommandIO {
  stdout: (text: string) => Promise<void>;
  log: Logger;
  /** Progress lines: shown only when stderr is a terminal (or with --verbose). */
  progress: (text: string) => void;
  /** Says on stderr (unless --quiet) that `path` was written: `wrote PATH: WHAT, SIZE`. */
  wrote: (path: string, what: string) => Promise<void>;
}

/** How text becomes words: options of every command that reads text. A model stores them; commands that read text with it apply them. */
export const textOptions: OptionSpecs = {
  lowercase: { type: 'boolean', description: "lowercase the text before use (a model's own setting applies by itself)" },
  'no-lowercase': { type: 'boolean', description: 'do not lowercase (the default)' },
  segment: { type: 'string', value: 'LANG', description: "split unsegmented text (ja, zh, …, or auto) into words with Intl.Segmenter; none: on spaces (a model's own setting applies by itself)" },
};

/** How text files are read: options of every command that reads a text file. */
export const lineOptions: OptionSpecs = {
  'max-line-bytes': {
    type: 'bytes',
    min: 1,
    max: MAX_LINE_BYTES_LIMIT,
    description: `refuse a line longer than N bytes (suffix K, M, G: powers of 1024; default ${DEFAULT_MAX_LINE_BYTES / 2 ** 20}M)`,
  },
};

/** The random seed, offered only by the commands that draw random numbers. */
export const seedOption: OptionSpecs = {
  seed: { type: 'integer', value: 'S', min: 0, max: 2 ** 32 - 1, description: 'random seed: the same seed gives the same result on every machine' },
};

/** For the commands that run models: n-gram models score lines in parallel, neural models split their kernels. */
export const threadsOptions: OptionSpecs = {
  threads: {
    type: 'integer',
    value: 'N',
    min: 1,
    max: MAX_THREADS,
    description: 'threads (default: all cores): n-gram training counts and sorts on them, n-gram scoring takes lines in parallel, neural models split their kernels; the output is the same for any N',
  },
};

/** The --threads option (its range checked by the parser): a count, or 'auto' (all cores) when absent. */
export function threadsOf(o: Parsed['options']): number | 'auto' {
  return typeof o.threads === 'number' ? o.threads : 'auto';
}

/**
 * Opens the model of `ppl`, `score` or `rerank` and says how its batches run: an n-gram model's
 * lines are scored on --threads worker threads (its arrays shared with them, not copied); other
 * models run on this thread, a neural model's kernels on the threads.
 */
export async function openScoringModel(modelPath: string, o: Parsed['options'], io: CommandIO, input: string): Promise<{ lm: LanguageModel<unknown>; run: RunOptions }> {
  const threads = typeof o.threads === 'number' ? o.threads : defaultThreads();
  const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(o), shared: threads > 1 });
  const lineThreads = lm instanceof BackoffModel ? threads : 1;
  return { lm, run: { threads: lineThreads, modelPath, text: textOptionsFor(lm, o, modelPath), source: input } };
}

export const commonOptions: OptionSpecs = {
  json: { type: 'boolean', description: 'print results as JSON' },
  verbose: { type: 'boolean', short: 'v', description: 'print progress on stderr even when it is not a terminal' },
  quiet: { type: 'boolean', short: 'q', description: "print nothing on stderr but errors (no warnings, no 'wrote' lines)" },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** The vocabulary options of the commands that build a vocabulary from text. */
export const vocabularyOptions: OptionSpecs = {
  'min-count': { type: 'integer', min: 1, description: 'words seen fewer times become <unk> (default 1: keep every word)' },
  'max-vocab': { type: 'integer', min: 4, description: 'keep only the N most frequent words (<unk>, <s>, </s> included)' },
  vocab: { type: 'string', value: 'FILE', description: 'fixed vocabulary: one word per line; others become <unk>' },
};

/** The text options the flags ask for (for training, and for models that do not store theirs). */
export function textOptionsOf(o: Parsed['options']): TokenizeOptions {
  if (o.lowercase && o['no-lowercase']) throw new KotobaError('--lowercase and --no-lowercase both given', 'keep one');
  const out: TokenizeOptions = {};
  if (o.lowercase) out.lowercase = true;
  if (typeof o.segment === 'string' && o.segment !== 'none') out.segment = checkSegmentLocale(o.segment);
  return out;
}

/**
 * The text options to read text with a model: its own, stored in its file. A flag may repeat
 * them; a flag that contradicts them is an error, because the numbers would not be the model's
 * (a forgotten --lowercase used to give a better-looking perplexity, silently). A model that does
 * not store them (another toolkit's ARPA file) reads text as the flags say.
 */
export function textOptionsFor(lm: { readonly text?: TokenizeOptions | undefined }, o: Parsed['options'], modelName: string): TokenizeOptions {
  const asked = textOptionsOf(o);
  if (!lm.text) return asked;
  const own = lm.text;
  const contradicting: string[] = [];
  if ((o.lowercase || o['no-lowercase']) && (asked.lowercase === true) !== (own.lowercase === true)) contradicting.push(asked.lowercase ? '--lowercase' : '--no-lowercase');
  if (typeof o.segment === 'string' && (asked.segment ?? null) !== (own.segment ?? null)) contradicting.push(`--segment ${o.segment}`);
  if (contradicting.length > 0) {
    const flags = contradicting.join(' ');
    throw new KotobaError(
      `${modelName} reads text with ${describeTextOptions(own)} (as it was trained); ${flags} would read it differently`,
      `drop ${flags}: the model's own text options apply by themselves`,
    );
  }
  return own;
}

/** How the text files of a command are read into lines. */
export function lineOptionsOf(o: Parsed['options']): LineOptions {
  return typeof o['max-line-bytes'] === 'number' ? { maxLineBytes: o['max-line-bytes'] } : {};
}

export async function vocabularyOptionsOf(o: Parsed['options']): Promise<Pick<CorpusOptions, 'minCount' | 'maxSize' | 'fixed'>> {
  const out: Pick<CorpusOptions, 'minCount' | 'maxSize' | 'fixed'> = {};
  if (typeof o['min-count'] === 'number') out.minCount = o['min-count'];
  if (typeof o['max-vocab'] === 'number') out.maxSize = o['max-vocab'];
  if (typeof o.vocab === 'string') out.fixed = await readWordList(o.vocab, lineOptionsOf(o));
  return out;
}

/** `-o -` writes `what` to standard output, where `--json` writes too: one of them has to give way. */
export function checkStdoutOutput(output: unknown, json: unknown, what = 'the model'): void {
  if (output === '-' && json) throw new KotobaError(`--json and ${what} would both go to standard output`, `write ${what} to a file, or leave out --json`);
}

/** JSON with non-finite numbers as null (JSON has no Infinity). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

/**
 * A float64 figure (a perplexity, a corpus total, a weight) as KenLM's `query` prints doubles:
 * the shortest decimal that reads back as the same double.
 */
export function fmt(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return String(x);
}

/**
 * A score of a word or a sentence, or a probability, as KenLM's `query` prints floats: rounded
 * to float32 (the precision of ARPA files), then the shortest decimal that reads back as it.
 */
export function fmt32(x: number): string {
  return formatFloat32(Math.fround(x));
}

/** A file size for people: 812 bytes, 12.3 kB, 45.6 MB, 1.2 GB (powers of 1000). */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  const [unit, scale] = bytes < 1e6 ? ['kB', 1e3] : bytes < 1e9 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(bytes / scale).toFixed(1)} ${unit}`;
}

/**
 * A count for people, with thousands separators: 1,234,567 (as `toLocaleString('en-US')` writes
 * it, without loading the locale data: the first call of that takes about 12 ms, on the path of
 * every command that says what it wrote).
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n) || Object.is(n, -0)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = digits.slice(0, digits.length % 3 || 3);
  for (let i = out.length; i < digits.length; i += 3) out += ',' + digits.slice(i, i + 3);
  return n < 0 ? '-' + out : out;
}

/** `--context` of ppl and score: how lines are scored with a model. */
export const contextOption: OptionSpecs = {
  context: { type: 'string', value: 'C', description: 'sentence (each line on its own) or stream (the state carried from line to line; rnn, gru, lstm, transformer); default: what the model was trained with' },
};

/** The context asked for, else the model's own; stream only where the model's state can span lines. */
export function contextOf(o: Parsed['options'], lm: LanguageModel<unknown>): Context {
  const c = o.context ?? lm.context ?? 'sentence';
  if (c !== 'sentence' && c !== 'stream') throw new KotobaError(`unknown --context '${String(c)}'`, 'use sentence or stream');
  if (c === 'stream' && !lm.scoreStream) {
    throw new KotobaError(`--context stream needs a model whose state spans lines: the ${lm.description} scores each line on its own`, 'use an rnn, gru, lstm or transformer model');
  }
  return c;
}
