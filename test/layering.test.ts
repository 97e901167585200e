/**
 * The layers of src/, read from the import statements of every source file (DESIGN.md, "A layout
 * that shows the architecture"):
 *
 *   cli/                  commands: may use everything
 *   node/                 files and streams (the only other place for node: modules)
 *   apps/                 the uses of a model, on LanguageModel only: no model family
 *   ngram/   neural/      the two model families: neither knows the other, nor the layers above
 *   text/    util/        below both families: words and vocabularies; PRNG, charts, formatting
 *
 * The browser-safe root (src/*.ts, and web/) imports no node: module and nothing from node/ or cli/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.js';

const src = join(repoRoot, 'src');

/** What each top-level folder of src/ may not import from (`.` is src/*.ts itself). */
const FORBIDDEN: Record<string, readonly string[]> = {
  apps: ['ngram', 'neural', 'node', 'cli'],
  ngram: ['neural', 'apps', 'node', 'cli'],
  neural: ['ngram', 'apps', 'node', 'cli'],
  text: ['ngram', 'neural', 'apps', 'node', 'cli', 'util'],
  util: ['ngram', 'neural', 'apps', 'node', 'cli'],
  '.': ['node', 'cli'],
  node: ['cli'],
  cli: [],
};
/** Only these may import node: modules. */
const NODE_ALLOWED = new Set(['node', 'cli']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.generated.ts') ? [path] : [];
  });
}

/**
 * The module specifiers a file imports: `import … from`, `export … from`, `import '…'` at the
 * start of a line (so the examples inside doc comments, which start with ` * `, do not count),
 * and `import('…')` with a literal anywhere.
 */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*'([^']+)'/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/^import\s*'([^']+)'/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The top-level folder of src/ that a path under src/ is in (`.` for src/*.ts). */
function layerOf(pathUnderSrc: string): string {
  const parts = pathUnderSrc.split('/');
  return parts.length === 1 ? '.' : parts[0]!;
}

test('importsOf reads statements, not examples in comments', () => {
  const text = [
    "import { a } from '../ngram/model.js';",
    'import {',
    '  b,',
    "} from '../neural/random.js';",
    "export * from './sweep.js';",
    "import 'node:fs';",
    ' * import { x } from "../apps/report.js";',
    " * import { y } from '../cli/main.js';",
    "const m = await import('./train-neural.js');",
  ].join('\n');
  assert.deepEqual(importsOf(text), ['../ngram/model.js', '../neural/random.js', './sweep.js', 'node:fs', './train-neural.js']);
});

test('src/ is layered: apps on LanguageModel alone, the two families apart, shared code below both', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(src)) {
    const from = relative(src, file).split(sep).join('/');
    const layer = layerOf(from);
    const forbidden = FORBIDDEN[layer];
    assert.ok(forbidden, `src/${from}: a folder the layering does not know (add it to FORBIDDEN)`);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('node:')) {
        if (!NODE_ALLOWED.has(layer)) violations.push(`src/${from} imports ${spec}: only node/ and cli/ may use Node's modules`);
        continue;
      }
      if (!spec.startsWith('.')) continue; // a package: kotoba has no runtime dependencies to check
      const target = posix.normalize(posix.join(posix.dirname(from), spec));
      if (target.startsWith('..')) {
        violations.push(`src/${from} imports ${spec}, outside src/`);
        continue;
      }
      if (forbidden.includes(layerOf(target))) violations.push(`src/${from} imports src/${target}: ${layer === '.' ? 'the root' : `${layer}/`} may not use ${layerOf(target)}/`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the demo page imports nothing that needs Node', () => {
  const web = join(repoRoot, 'web');
  const violations: string[] = [];
  for (const file of readdirSync(web).filter((f) => f.endsWith('.ts'))) {
    for (const spec of importsOf(readFileSync(join(web, file), 'utf8'))) {
      const target = spec.startsWith('.') ? relative(src, join(dirname(join(web, file)), spec)).split(sep).join('/') : spec;
      if (spec.startsWith('node:') || /^(node|cli)\//.test(target)) violations.push(`web/${file} imports ${spec}`);
    }
  }
  assert.deepEqual(violations, []);
});
