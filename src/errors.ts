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
 * Text from a file, fit for one line of a message: control characters, the line and paragraph
 * separators and the bidirectional overrides written as escapes (`\n`, `\x1b`, `\u202e`), so
 * that no newline or terminal code from a file reaches the terminal; everything else unchanged.
 *
 * @example
 * ```ts
 * // runs
 * import { printable } from 'kotoba';
 * printable('a\nb\x1b[31m'); // 'a\\nb\\x1b[31m'
 * ```
 */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
