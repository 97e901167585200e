/** What the commands share: logging conventions, common options, model loading, output. */
import { KotobaError } from '../errors.js';
import type { Logger } from '../ngram/estimate.js';
import type { CorpusOptions } from '../text/corpus.js';
import { checkSegmentLocale } from '../text/segment.js';
import { describeTextOptions } from '../text/text-options.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import type { OptionSpecs, Parsed } from './args.js';
import { readWordList } from '../node/corpus-files.js';
import type { CommandFiles } from '../node/outputs.js';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  examples: string[];
  options: OptionSpecs;
  /** The files the command reads and writes, checked before `run` (checkOutputs): no output may be an input. */
  files?(parsed: Parsed): CommandFiles;
  run(parsed: Parsed, io: CommandIO): Promise<void>;
}

export interface CommandIO {
  stdout: (text: string) => Promise<void>;
  log: Logger;
  /** Progress lines: shown only when stderr is a terminal (or with --verbose). */
  progress: (text: string) => void;
}

/** How text becomes words. A model stores them; commands that read text with it apply them. */
export const textOptions: OptionSpecs = {
  lowercase: { type: 'boolean', description: "lowercase the text before use (a model's own setting applies by itself)" },
  'no-lowercase': { type: 'boolean', description: 'do not lowercase (the default)' },
  segment: { type: 'string', value: 'LANG', description: "split unsegmented text (ja, zh, …, or auto) into words with Intl.Segmenter; none: on spaces (a model's own setting applies by itself)" },
};

export const commonOptions: OptionSpecs = {
  json: { type: 'boolean', description: 'print results as JSON' },
  verbose: { type: 'boolean', short: 'v', description: 'print progress on stderr even when it is not a terminal' },
  quiet: { type: 'boolean', short: 'q', description: 'print no warnings' },
  seed: { type: 'integer', description: 'random seed (for reproducible runs)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
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

export async function vocabularyOptionsOf(o: Parsed['options']): Promise<Pick<CorpusOptions, 'minCount' | 'maxSize' | 'fixed'>> {
  const out: Pick<CorpusOptions, 'minCount' | 'maxSize' | 'fixed'> = {};
  if (typeof o['min-count'] === 'number') out.minCount = o['min-count'];
  if (typeof o['max-vocab'] === 'number') out.maxSize = o['max-vocab'];
  if (typeof o.vocab === 'string') out.fixed = await readWordList(o.vocab);
  return out;
}

/** JSON with non-finite numbers as null (JSON has no Infinity). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

/** Formats a number the way KenLM's query prints doubles (full precision). */
export function fmt(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return String(x);
}
