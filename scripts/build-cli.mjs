// Bundles the `kotoba` command line with esbuild into dist/bin/ (what `npx kotoba` runs):
//
//   dist/src/cli/main.js          ─▶ dist/bin/main.js           the executable
//   dist/src/node/ngram-worker.js ─▶ dist/bin/ngram-worker.js   estimation's threads
//   dist/src/node/sort-helper.js  ─▶ dist/bin/sort-helper.js
//   dist/src/node/score-worker.js ─▶ dist/bin/score-worker.js   scoring's threads
//
// plus the chunks they share. Why: Node's ES module loader costs about half a millisecond per
// module, and a command loads over a hundred of them; from a few chunks, every command starts
// about 40 ms sooner (`kotoba --version`: 0.10 s against 0.14 s). The library itself stays the
// modules tsc writes (dist/src/). Run after tsc in `npm run build`.

import { build } from 'esbuild';
import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bin');
const started = Date.now();

rmSync(outdir, { recursive: true, force: true }); // no stale chunks from an earlier build
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    main: 'dist/src/cli/main.js',
    'ngram-worker': 'dist/src/node/ngram-worker.js',
    'sort-helper': 'dist/src/node/sort-helper.js',
    'score-worker': 'dist/src/node/score-worker.js',
  },
  outdir,
  bundle: true,
  splitting: true, // a command's modules load only when it runs (train's neural half only for --model)
  format: 'esm',
  platform: 'node',
  target: 'node20',
  metafile: true,
  logLevel: 'warning',
});

// Threads start from files next to the code that starts them (`new URL('./x.js', import.meta.url)`):
// each such file must be one of the bundle's entry points.
const missing = [];
for (const file of Object.keys(result.metafile.outputs)) {
  const text = await readFile(join(root, file), 'utf8');
  for (const [, name] of text.matchAll(/new URL\("\.\/([^"]+)", import\.meta\.url\)/g)) {
    if (!existsSync(join(outdir, name))) missing.push(`${file} starts ./${name}`);
  }
}
if (missing.length > 0) {
  console.error(`build-cli: a thread's file is not in the bundle:\n  ${missing.join('\n  ')}\nadd it to entryPoints`);
  process.exit(1);
}
console.log(`build-cli: dist/bin/ (${Object.keys(result.metafile.outputs).length} files) in ${Date.now() - started} ms`);
