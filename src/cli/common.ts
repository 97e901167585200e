/** What the commands share: logging conventions, common options, model loading, output. */
import { KotobaError } from '../errors.js';
import type { Context, LanguageModel } from '../lm.js';
import type { Logger } from '../ngram/estimate.js';
import type { CorpusOptions } from '../text/corpus.js';
import type { OptionSpecs, Parsed } from './args.js';
import { readWordList } from '../node/corpus-files.js';

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
