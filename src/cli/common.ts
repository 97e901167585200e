/** What the commands share: logging conventions, common options, model loading, output. */
import type { Logger } from '../ngram/estimate.js';
import type { CorpusOptions } from '../text/corpus.js';
import type { OptionSpecs, Parsed } from './args.js';
import { KotobaError } from '../errors.js';
import { readWordList } from '../node/corpus-files.js';
import { defaultThreads } from '../node/workers.js';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  examples: string[];
  options: OptionSpecs;
  run(parsed: Parsed, io: CommandIO): Promise<void>;
}

export interface CommandIO {
  stdout: (text: string) => Promise<void>;
  log: Logger;
  /** Progress lines: shown only when stderr is a terminal (or with --verbose). */
  progress: (text: string) => void;
}

export const textOptions: OptionSpecs = {
  lowercase: { type: 'boolean', description: 'lowercase the text before use' },
  segment: { type: 'string', value: 'LANG', description: 'split unsegmented text (ja, zh, …, or auto) into words with Intl.Segmenter' },
};

export const threadOptions: OptionSpecs = {
  threads: { type: 'integer', value: 'N', description: 'score on N threads (default: every core); the output is the same for any N' },
};

/** `--threads`, checked; every core when absent. */
export function threadsOf(o: Parsed['options']): number {
  const t = o.threads;
  if (t === undefined) return defaultThreads();
  if (typeof t !== 'number' || !(t >= 1 && t <= 1024)) throw new KotobaError(`--threads must be from 1 to 1024, not ${String(t)}`, 'e.g. --threads 4');
  return t;
}

export const commonOptions: OptionSpecs = {
  json: { type: 'boolean', description: 'print results as JSON' },
  verbose: { type: 'boolean', short: 'v', description: 'print progress on stderr even when it is not a terminal' },
  quiet: { type: 'boolean', short: 'q', description: 'print no warnings' },
  seed: { type: 'integer', description: 'random seed (for reproducible runs)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

export function textOptionsOf(o: Parsed['options']): Pick<CorpusOptions, 'lowercase' | 'segment'> {
  const out: Pick<CorpusOptions, 'lowercase' | 'segment'> = {};
  if (o.lowercase) out.lowercase = true;
  if (typeof o.segment === 'string') out.segment = o.segment;
  return out;
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
