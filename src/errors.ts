/**
 * An error meant for the person running kotoba: one line saying what went wrong, where
 * (file and line when known) and how to fix it. The CLI prints `message` without a stack trace.
 *
 * @example
 * ```ts
 * // runs
 * import { corpusFromText, estimate, KotobaError } from 'kotoba';
 * try {
 *   estimate(corpusFromText(['a b c']), { order: 0 });
 * } catch (e) {
 *   if (!(e instanceof KotobaError)) throw e;
 *   console.error(e.message); // order must be a whole number of at least 1, not 0 (pass e.g. --order 3)
 * }
 * ```
 */
export class KotobaError extends Error {
  override readonly name = 'KotobaError';
  constructor(
    /** What went wrong, without the hint. */
    readonly problem: string,
    /** What the user can do about it, printed after the message. */
    readonly hint?: string,
  ) {
    super(hint ? `${problem} (${hint})` : problem);
  }
}

/**
 * Location prefix for messages about input files: `file:line: `.
 *
 * @example
 * ```ts
 * // runs
 * import { at, KotobaError } from 'kotoba';
 * at('train.txt', 3); // 'train.txt:3: '
 * at('-');            // '<stdin>: '
 * const error = new KotobaError(`${at('train.txt', 3)}<s> inside a sentence`, 'remove it');
 * ```
 */
export function at(file: string | undefined, line?: number): string {
  const name = file === undefined || file === '-' ? '<stdin>' : file;
  return line === undefined ? `${name}: ` : `${name}:${line}: `;
}

/**
 * Text taken from an input file, fit for a one-line message: cut to `max` characters, and
 * control characters escaped, so that no newline or terminal code from a file reaches the
 * terminal.
 *
 * @example
 * ```ts
 * // runs
 * import { printable } from 'kotoba';
 * printable('a\nb\u001b[31m'); // 'a\\u000ab\\u001b[31m'
 * printable('x'.repeat(100), 5); // 'xxxxx…'
 * ```
 */
export function printable(text: string, max = 60): string {
  const short = text.length > max ? `${text.slice(0, max)}…` : text;
  return short.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
