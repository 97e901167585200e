/**
 * Doc test: every TypeScript example in the TSDoc of `src/` type-checks against the built
 * package, written as a user would write it.
 *
 * What counts as an example: a fenced block opened by ```ts (or ```typescript) inside an
 * `@example` section of a doc comment, in any file under src/. The section runs from the
 * `@example` line to the next block tag (`@param`, `@returns`, …) or the end of the comment.
 * Every `@example` section must hold such a fence: one without (plain text, or only another
 * language) fails the test, which names its file and line, so that no example goes unchecked.
 *
 * Conventions for writing one:
 * - Each example is a module of its own. It imports what it uses from `'kotoba'` or
 *   `'kotoba/node'`, exactly as a user would; nothing is imported for it. Both names resolve to
 *   the built package (dist/src, through package.json `exports`) by a `node_modules/kotoba` link
 *   to the repository in a temporary folder, so only the public API type-checks.
 * - Free variables are declared at the top of the block, after the imports, with `declare`:
 *   `declare const corpus: Corpus;` or `declare const model: BackoffModel;`. The example then
 *   shows only the call it documents.
 * - Top-level `await` is allowed (the examples are ES modules).
 * - A first line `// runs` marks an example that is also executed with Node after it
 *   type-checks. Such an example must declare nothing and read no files; it passes when it
 *   exits without an exception.
 *
 * All examples are checked in one run of the repository's own `node_modules/.bin/tsc`, strict,
 * with unused names allowed (examples often bind a result only to show its name). The JavaScript
 * is emitted into the temporary folder only, for the `// runs` examples. A failure names the
 * source file, the line in it and tsc's message. Run after a build: `npx tsc -p tsconfig.json`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.js';

/** One fenced example found in a source file. */
export interface DocExample {
  /** Source file, relative to the repository root, with `/` separators. */
  file: string;
  /** 1-based line of the first code line (the line after the opening fence). */
  line: number;
  /** The code, comment stars removed. */
  code: string;
  /** First line is `// runs`. */
  runs: boolean;
}

/** An `@example` section with no fenced ts block (an error: it could not be checked). */
export interface UnfencedExample {
  file: string;
  line: number;
}

const FENCE_OPEN = /^```(ts|typescript)\s*$/;
const FENCE_ANY = /^```/;
const BLOCK_TAG = /^@[a-zA-Z]/;

/** A doc-comment line without its leading `*` (and one space after it). */
function stripStar(line: string): string {
  const m = /^\s*\*(?: |$)/.exec(line);
  return m ? line.slice(m[0].length) : line.replace(/^\s*/, '');
}

/** Finds the fenced examples (and the unfenced `@example` sections) of one source text. */
export function extractExamples(file: string, text: string): { examples: DocExample[]; unfenced: UnfencedExample[] } {
  const examples: DocExample[] = [];
  const unfenced: UnfencedExample[] = [];
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  let inComment = false;
  let inExample = false;
  let exampleLine = 0;
  let fencedInSection = false;
  let fence: { line: number; body: string[]; lang: boolean } | null = null;
  const endSection = () => {
    if (inExample && !fencedInSection) unfenced.push({ file, line: exampleLine });
    inExample = false;
  };
  for (let i = 0; i < lines.length; i++) {
    let raw = lines[i]!;
    if (!inComment) {
      const open = raw.indexOf('/**');
      if (open < 0) continue;
      inComment = true;
      raw = raw.slice(open + 3);
      // A one-line comment: /** … */
      if (raw.includes('*/')) {
        inComment = false;
        if (raw.includes('@example')) unfenced.push({ file, line: i + 1 });
        continue;
      }
    }
    const close = raw.indexOf('*/');
    const ending = close >= 0;
    if (ending) raw = raw.slice(0, close);
    const content = stripStar(raw);
    const trimmed = content.trim();
    if (fence) {
      if (trimmed === '```' || ending) {
        if (fence.lang) {
          const code = fence.body.join('\n');
          const first = fence.body.find((l) => l.trim() !== '') ?? '';
          examples.push({ file, line: fence.line, code, runs: /^\/\/\s*runs\b/.test(first.trim()) });
        }
        fence = null;
      } else {
        fence.body.push(content);
      }
    } else if (trimmed.startsWith('@example')) {
      endSection();
      inExample = true;
      exampleLine = i + 1;
      fencedInSection = false;
    } else if (BLOCK_TAG.test(trimmed)) {
      endSection();
    } else if (inExample && FENCE_ANY.test(trimmed)) {
      const lang = FENCE_OPEN.test(trimmed);
      if (lang) fencedInSection = true;
      fence = { line: i + 2, body: [], lang };
    }
    if (ending) {
      fence = null;
      endSection();
      inComment = false;
    }
  }
  return { examples, unfenced };
}

/** All `.ts` files under `dir`, sorted, as paths relative to the repository root. */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(repoRoot, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out;
}

/** Every example in src/, with the unfenced sections. */
function collect(): { examples: DocExample[]; unfenced: UnfencedExample[] } {
  const examples: DocExample[] = [];
  const unfenced: UnfencedExample[] = [];
  for (const file of sourceFiles(join(repoRoot, 'src'))) {
    const r = extractExamples(file, readFileSync(join(repoRoot, file), 'utf8'));
    examples.push(...r.examples);
    unfenced.push(...r.unfenced);
  }
  return { examples, unfenced };
}

interface Diagnostic {
  /** File as tsc printed it. */
  file: string;
  line: number;
  code: string;
  message: string;
}

/** Parses `tsc --pretty false` output: `file(line,col): error TSnnnn: message` plus indented lines. */
function parseDiagnostics(output: string): { diagnostics: Diagnostic[]; other: string[] } {
  const diagnostics: Diagnostic[] = [];
  const other: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line);
    if (m) diagnostics.push({ file: m[1]!, line: Number(m[2]), code: m[4]!, message: m[5]! });
    else if (/^\s+\S/.test(line) && diagnostics.length > 0) diagnostics[diagnostics.length - 1]!.message += ' ' + line.trim();
    else if (line.trim() !== '') other.push(line);
  }
  return { diagnostics, other };
}

function run(cmd: string, args: string[], cwd: string, timeout: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

const built = existsSync(join(repoRoot, 'dist', 'src', 'index.d.ts')) && existsSync(join(repoRoot, 'dist', 'src', 'node', 'index.d.ts'));

test('extractExamples: fenced ts blocks inside @example only, with their source lines', () => {
  const text = [
    '/**', //                   1
    ' * Summary.', //           2
    ' * ```ts', //              3  not in an @example section
    ' * ignored();', //         4
    ' * ```', //                5
    ' * @example', //           6
    ' * ```ts', //              7
    ' * // runs', //            8
    " * import { Vocabulary } from 'kotoba';", // 9
    ' *   new Vocabulary();', //  10
    ' * ```', //                11
    ' * ```sh', //              12
    ' * kotoba ppl', //         13
    ' * ```', //                14
    ' * @param x a value', //   15
    ' * ```ts', //              16  after another tag: not an example
    ' * ignored();', //         17
    ' * ```', //                18
    ' */', //                   19
    '/** @example plain text */', // 20
    '/**', //                   21
    ' * @example', //           22
    ' * unfenced();', //        23
    ' */', //                   24
  ].join('\n');
  const { examples, unfenced } = extractExamples('src/x.ts', text);
  assert.deepEqual(examples, [{ file: 'src/x.ts', line: 8, code: "// runs\nimport { Vocabulary } from 'kotoba';\n  new Vocabulary();", runs: true }]);
  assert.deepEqual(unfenced, [
    { file: 'src/x.ts', line: 20 },
    { file: 'src/x.ts', line: 22 },
  ]);
});

test('every @example in src/ has a ```ts fence (so that it is checked)', () => {
  const { examples, unfenced } = collect();
  assert.ok(examples.length > 0, 'no ```ts examples found under src/');
  const where = unfenced.map((u) => `${u.file}:${u.line}`);
  assert.equal(where.length, 0, `@example without a \`\`\`ts fence (wrap the example in \`\`\`ts … \`\`\` so the doc test checks it):\n${where.join('\n')}`);
});

test('every ```ts @example in src/ type-checks against the built package (and `// runs` examples run)', { skip: built ? false : 'dist/ is not built: run npx tsc -p tsconfig.json first', timeout: 60_000 }, async (t) => {
  const { examples } = collect();
  assert.ok(examples.length > 0, 'no ```ts examples found under src/');

  const dir = mkdtempSync(join(tmpdir(), 'kotoba-docs-'));
  try {
    // 'kotoba' and 'kotoba/node' resolve through the repository's package.json exports.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(repoRoot, join(dir, 'node_modules', 'kotoba'), 'junction');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    mkdirSync(join(dir, 'ex'));
    const names = examples.map((e, i) => `${String(i).padStart(3, '0')}-${e.file.replace(/[^A-Za-z0-9]+/g, '_')}-L${e.line}.ts`);
    examples.forEach((e, i) => writeFileSync(join(dir, 'ex', names[i]!), e.code + '\n'));
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        moduleDetection: 'force',
        lib: ['ES2022', 'DOM'],
        types: ['node'],
        typeRoots: [join(repoRoot, 'node_modules', '@types')],
        strict: true,
        noUnusedLocals: false,
        noUnusedParameters: false,
        skipLibCheck: true,
        rootDir: 'ex',
        outDir: 'out',
      },
      files: names.map((n) => `ex/${n}`),
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));

    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], dir, 50_000);
    const { diagnostics, other } = parseDiagnostics(result.output);
    const byName = new Map(names.map((n, i) => [n, examples[i]!]));
    const failed = new Set<DocExample>();
    const messages: string[] = [];
    for (const d of diagnostics) {
      const name = d.file.replace(/\\/g, '/').split('/').pop()!;
      const ex = byName.get(name);
      if (!ex) {
        messages.push(`${d.file}:${d.line}: ${d.code}: ${d.message}`);
        continue;
      }
      failed.add(ex);
      messages.push(`${ex.file}:${ex.line + d.line - 1}: ${d.code}: ${d.message}`);
    }
    if (result.code !== 0 && diagnostics.length === 0) messages.push(`tsc exited with ${result.code}: ${other.join(' | ')}`);

    // Runnable examples that type-checked: run each with Node, a few at a time.
    const runnable = examples.map((e, i) => ({ e, i })).filter(({ e }) => e.runs && !failed.has(e));
    let ran = 0;
    const queue = runnable.slice();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let job = queue.shift(); job; job = queue.shift()) {
          const js = join(dir, 'out', names[job.i]!.replace(/\.ts$/, '.js'));
          const r = await run(process.execPath, [js], dir, 15_000);
          ran++;
          if (r.code !== 0) {
            const lines = r.output.split('\n');
            const why = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.find((l) => /error/i.test(l)) ?? `exit code ${r.code}`;
            messages.push(`${job.e.file}:${job.e.line}: // runs example failed: ${why.trim()}`);
          }
        }
      }),
    );

    t.diagnostic(`${examples.length} examples in ${new Set(examples.map((e) => e.file)).size} files; ${failed.size} failed to type-check; ${ran} run`);
    assert.equal(messages.length, 0, `doc examples that fail:\n${messages.join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
