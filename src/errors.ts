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
