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

// Characters that break a line or drive a terminal: C0 and C1 controls (newlines, ESC of ANSI
// sequences, CSI), DEL, the Unicode line and paragraph separators, and the bidirectional
// overrides and isolates that make text display in another order than it reads.
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` safe to print on one line of a terminal: control characters and the like written as
 * escapes (`\n`, `\x1b`, `\u202e`), everything else unchanged. For text that comes from files
 * (a model's description, a word in an error message).
 *
 * @example
 * ```ts
 * // runs
 * import { printable } from 'kotoba';
 * printable('wiki 3-gram\n\x1b[2J'); // 'wiki 3-gram\\n\\x1b[2J'
 * ```
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const named = NAMED_ESCAPES[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * What `JSON.parse` said about `text`, as a short phrase with the line and column: V8's own
 * message may quote the text itself, newlines and all, or give only a character offset.
 *
 * @example
 * ```ts
 * // runs
 * import { jsonErrorDetail } from 'kotoba';
 * const text = '{\n  "a": 1,\n}';
 * try {
 *   JSON.parse(text);
 * } catch (e) {
 *   jsonErrorDetail(e, text); // 'Expected double-quoted property name at line 3, column 1'
 * }
 * ```
 */
export function jsonErrorDetail(error: unknown, text: string): string {
  let message = (error as Error)?.message ?? String(error);
  // "Unexpected token 'x', ..."{ …the text… }"... is not valid JSON": the quote is the input itself.
  message = message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');
  const position = / in JSON at position (\d+)/.exec(message);
  if (position) {
    const offset = Math.min(Number(position[1]), text.length);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < offset; i++) {
      if (text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    message = `${message.slice(0, position.index)} at line ${line}, column ${offset - lineStart + 1}${message.slice(position.index + position[0].length)}`;
  }
  return printable(message);
}
