/**
 * A model's text options: how its text was split into words (`--lowercase`, `--segment LANG`).
 * Every model file kotoba writes stores them, and every command that reads text with a model
 * applies them, so a model is always given text prepared the way its training text was. This is
 * the one pair of functions that turns them into the JSON stored in files and back.
 *
 * The vocabulary options (`--min-count`, `--max-vocab`, `--vocab`) need nothing stored: they
 * decide which words the model has, its word list is in its file, and every other word is
 * `<unk>` whatever the command.
 */
import { KotobaError } from '../errors.js';
import { checkSegmentLocale } from './segment.js';
import type { TokenizeOptions } from './tokenize.js';

/** The text options as stored in model files: both fields always present. */
export interface TextOptionsJson {
  lowercase: boolean;
  /** An `Intl.Segmenter` locale or `auto`; null: split on spaces and tabs. */
  segment: string | null;
}

/**
 * The stored form of text options.
 *
 * @example
 * ```ts
 * // runs
 * import { textOptionsToJson } from 'kotoba';
 * textOptionsToJson({ lowercase: true }); // { lowercase: true, segment: null }
 * ```
 */
export function textOptionsToJson(text: TokenizeOptions): TextOptionsJson {
  return { lowercase: text.lowercase === true, segment: text.segment ?? null };
}

/**
 * Text options read from a model file (untrusted): a KotobaError naming `source` unless the value
 * is exactly what {@link textOptionsToJson} writes, with a locale this runtime can segment.
 *
 * @example
 * ```ts
 * // runs
 * import { textOptionsFromJson } from 'kotoba';
 * textOptionsFromJson({ lowercase: true, segment: 'ja' }, 'ja.kblm'); // { lowercase: true, segment: 'ja' }
 * textOptionsFromJson({ lowercase: false, segment: null }, 'en.kblm'); // {}
 * ```
 */
export function textOptionsFromJson(value: unknown, source: string): TokenizeOptions {
  const bad = (what: string) => new KotobaError(`${source}: the model's text options ${what}`, 'the file is corrupt or written by a newer kotoba; train the model again');
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('are not an object');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (key !== 'lowercase' && key !== 'segment') throw bad(`have an unknown field '${key.slice(0, 40)}'`);
  if (typeof v.lowercase !== 'boolean') throw bad('have no lowercase: true|false');
  if (v.segment !== null && (typeof v.segment !== 'string' || v.segment.length === 0 || v.segment.length > 64)) throw bad('have no segment: null or a locale');
  const out: TokenizeOptions = {};
  if (v.lowercase) out.lowercase = true;
  if (typeof v.segment === 'string') {
    try {
      out.segment = checkSegmentLocale(v.segment);
    } catch (e) {
      throw new KotobaError(`${source}: the model segments its text with --segment ${JSON.stringify(v.segment)}, ${e instanceof KotobaError ? e.message : 'which this runtime cannot do'}`);
    }
  }
  return out;
}

/**
 * Whether two sets of text options split text the same way.
 *
 * @example
 * ```ts
 * // runs
 * import { sameTextOptions } from 'kotoba';
 * sameTextOptions({ lowercase: false }, {}); // true
 * ```
 */
export function sameTextOptions(a: TokenizeOptions, b: TokenizeOptions): boolean {
  return (a.lowercase === true) === (b.lowercase === true) && (a.segment ?? null) === (b.segment ?? null);
}

/**
 * The options as command-line flags, for messages: `--lowercase --segment ja`, or `no --lowercase
 * or --segment`.
 *
 * @example
 * ```ts
 * // runs
 * import { describeTextOptions } from 'kotoba';
 * describeTextOptions({ lowercase: true }); // '--lowercase'
 * ```
 */
export function describeTextOptions(text: TokenizeOptions): string {
  const flags = [text.lowercase ? '--lowercase' : '', text.segment ? `--segment ${text.segment}` : ''].filter((f) => f !== '');
  return flags.length > 0 ? flags.join(' ') : 'no --lowercase or --segment';
}
