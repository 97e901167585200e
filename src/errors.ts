/**
 * An error meant for the person running kotoba: one line saying what went wrong, where
 * (file and line when known) and how to fix it. The CLI prints `message` without a stack trace.
 */
export class KotobaError extends Error {
  override readonly name = 'KotobaError';
  constructor(
    message: string,
    /** What the user can do about it, printed after the message. */
    readonly hint?: string,
  ) {
    super(hint ? `${message} (${hint})` : message);
  }
}

/** Location prefix for messages about input files: `file:line: `. */
export function at(file: string | undefined, line?: number): string {
  const name = file === undefined || file === '-' ? '<stdin>' : file;
  return line === undefined ? `${name}: ` : `${name}:${line}: `;
}
