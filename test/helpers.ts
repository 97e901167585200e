/** Shared test helpers: where things are, running the CLI, temporary folders. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The shared data and fixtures beside the repository (absent on some machines). */
export const sharedDir = join(repoRoot, '..', 'shared');
export const fixtures = join(repoRoot, 'test', 'fixtures');
export const cli = join(repoRoot, 'dist', 'bin', 'main.js');

/** `false` when the shared path exists, otherwise a skip message naming it. */
export function needShared(...parts: string[]): false | string {
  const p = join(sharedDir, ...parts);
  return existsSync(p) ? false : `shared data not found: ../shared/${parts.join('/')}`;
}

export function sharedPath(...parts: string[]): string {
  return join(sharedDir, ...parts);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kotoba ARGS` with optional stdin; never throws on a non-zero exit. With `shell`, through
 * bash: the command is `"$@"` in it, e.g. `ulimit -f 64; "$@"` or `"$@" > /dev/full`.
 */
export function runCli(args: string[], options: { input?: string | Uint8Array; cwd?: string; shell?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, argv] = options.shell === undefined ? [process.execPath, [cli, ...args]] : ['bash', ['-c', options.shell, 'bash', process.execPath, cli, ...args]];
    const child = spawn(command, argv, { cwd: options.cwd ?? repoRoot, env: { ...process.env, KOTOBA_DEBUG: '' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    // A command that fails early (a bad line) need not read all its input: not an error here.
    child.stdin.on('error', () => {});
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A failed run: exit code ≠ 0, exactly one line on stderr matching `pattern`, no stack trace. */
export function assertCleanFailure(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'exit code');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.match(lines[0]!, /^kotoba: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
}

/** A temporary folder, removed by the returned cleanup function. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kotoba-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The lecture's example corpus (segmented Japanese). */
export const LECTURE = ['私 は 読書 が 好き だ', '私 の 本 は 1900年代 に 書かれた', '1900年代 は 20世紀 だ'];
