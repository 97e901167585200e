/**
 * Output paths checked before any work: each must be writable, and no output may be one of the inputs (`train -o c.txt
 * c.txt` would replace the corpus with the model), and no two outputs may be one file. Files are
 * compared as the system sees them, by device and inode, so `./x` and `x`, symlinks and hard
 * links all count as the same file.
 */
import { fstatSync, promises as fsp, type BigIntStats } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import { KotobaError } from '../errors.js';
import { checkWritable, fileError } from './io.js';
import { modelFiles } from './models.js';

/** A file a command reads or writes, and how a message names it ('-o', 'the training text'). */
export interface NamedFile {
  /** The path as the user gave it; not a string (an option left out) means no file. */
  path: unknown;
  as: string;
}

/** What a command reads and writes. `-` as an input is stdin. */
export interface CommandFiles {
  outputs: NamedFile[];
  /** Texts and word lists. */
  inputs?: NamedFile[];
  /** Models: a mixture brings in the models it names. */
  models?: NamedFile[];
}

interface Resolved {
  /** How messages name it: '-o m.arpa', 'standard output'. */
  name: string;
  /** `dev:ino` when the file exists. */
  id: string | null;
  isDirectory?: boolean;
  /** The absolute path with its folder's symlinks resolved (outputs that do not exist yet). */
  where: string | null;
}

const idOf = (s: BigIntStats): string => `${s.dev}:${s.ino}`;

async function resolvePath(path: string, as: string): Promise<Resolved> {
  const name = `${as} ${path}`;
  const stat = await fsp.stat(path, { bigint: true }).catch(() => null);
  const folder = await fsp.realpath(dirname(path)).catch(() => resolve(dirname(path)));
  return { name, id: stat && idOf(stat), isDirectory: stat?.isDirectory() ?? false, where: resolve(folder, basename(path)) };
}

/** Standard input or output, when it is a regular file (a `<` or `>` redirection). */
function resolveFd(fd: number, name: string): Resolved | null {
  try {
    const s = fstatSync(fd, { bigint: true });
    return s.isFile() ? { name, id: idOf(s), where: null } : null;
  } catch {
    return null;
  }
}

/**
 * Checks, before any work, that every output can be written: its folder exists and is writable,
 * and it is neither an input nor another output. Throws a one-line KotobaError otherwise.
 * Standard output counts as an output, and `-` as standard input, when they are redirected to
 * regular files. A mixture's inputs include the models it names.
 *
 * @example
 * ```ts
 * import { checkOutputs } from 'kotoba/node';
 * await checkOutputs({
 *   outputs: [{ path: 'wiki.arpa', as: '-o' }],
 *   inputs: [{ path: 'wiki.train.txt', as: 'the training text' }],
 * }); // a KotobaError if wiki.arpa is wiki.train.txt, a link to it, or a hard link of it
 * ```
 */
export async function checkOutputs(files: CommandFiles): Promise<void> {
  const given = (list: NamedFile[] | undefined) => (list ?? []).filter((f): f is { path: string; as: string } => typeof f.path === 'string' && f.path !== '');
  const outputs: Resolved[] = [];
  for (const f of given(files.outputs)) {
    if (f.path === '-') continue;
    await checkWritable(f.path);
    const output = await resolvePath(f.path, f.as);
    if (output.isDirectory) throw fileError(Object.assign(new Error(), { code: 'EISDIR' }), f.path, 'write');
    outputs.push(output);
  }
  const stdout = resolveFd(1, 'standard output');
  const inputs: Resolved[] = [];
  for (const f of given(files.inputs)) {
    if (f.path !== '-') inputs.push(await resolvePath(f.path, f.as));
    else {
      const stdin = resolveFd(0, `${f.as} (standard input)`);
      if (stdin) inputs.push(stdin);
    }
  }
  for (const f of given(files.models)) {
    const [self, ...named] = await modelFiles(f.path);
    inputs.push(await resolvePath(self!, f.as));
    for (const p of named) inputs.push(await resolvePath(relative('', p), `a model named in ${f.path}:`));
  }
  for (const output of stdout ? [...outputs, stdout] : outputs) {
    const input = inputs.find((i) => i.id !== null && i.id === output.id);
    if (input) {
      throw new KotobaError(
        `${output.name} is the same file as ${input.name}`,
        `writing it would destroy the input; ${output === stdout ? 'redirect the output to another file' : 'give another output path'}`,
      );
    }
  }
  for (let i = 0; i < outputs.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [outputs[j]!, outputs[i]!];
      if ((a.id !== null && a.id === b.id) || a.where === b.where) {
        throw new KotobaError(`${a.name} and ${b.name} are the same file`, 'one would overwrite the other; give them different paths');
      }
    }
  }
}
