// Builds the WebAssembly kernels and embeds them in TypeScript modules.
//
//   asm/kernels.ts ──asc -O3──▶ plain SIMD128 build              ┐
//                  ──asc -O3──▶ relaxed-SIMD (FMA) build          │
//                  ──asc -O3──▶ both again on a shared memory     ┴─▶ src/neural/kernels/wasm-binaries.generated.ts
//                               (for the worker threads)
//   asm/ngram.ts   ──asc -O3──▶ the probing sentence loop, on a plain ┐
//                               and on a shared memory               ┴─▶ src/ngram/ngram-wasm.generated.ts
//   asm/arpa.ts    ──asc -O3──▶ the ARPA line formatter (a private memory per thread)
//                                                                      ──▶ src/ngram/arpa-wasm.generated.ts
//   asm/interpolate.ts ──asc -O3──▶ estimation's interpolation (the same)  ──▶ src/ngram/interpolate-wasm.generated.ts
//   asm/tokenize.ts ──asc -O3──▶ training text's tokenizer (the same)      ──▶ src/node/tokenize-wasm.generated.ts
//
// The bytes are embedded as base64 so that loading needs no fetch or fs, in Node and in the
// browser alike. Runs before `tsc` in `npm run build`; `asc` is a devDependency and works offline.
// An output is rewritten only when its inputs change (their hash is in its first line), so
// tsc's view of it stays stable and a build with nothing new to compile takes no time.
//
// A threaded build must compute exactly what its single-thread twin computes (results may not
// depend on the thread count), so the build fails unless the two differ only in their import
// section, where the memory is declared shared: every function body is byte-identical.

import asc from 'assemblyscript/asc';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Memory is imported (the TypeScript side owns and sizes it); the stub runtime and --noAssert
// leave no imports besides it. The kernels' builds share the source: ASC_FEATURE_RELAXED_SIMD
// picks the fused multiply-add at compile time. A shared memory needs a declared maximum: 65536
// pages, the whole 32-bit space, so that the host may size it freely.
const common = ['-O3', '--noAssert', '--runtime', 'stub', '--importMemory', '--enable', 'simd'];
const shared = ['--enable', 'threads', '--sharedMemory', '--maximumMemory', '65536'];
const targets = [
  {
    source: 'asm/kernels.ts',
    target: 'src/neural/kernels/wasm-binaries.generated.ts',
    variants: [
      { name: 'KERNELS_SIMD', what: 'simd build', flags: [] },
      { name: 'KERNELS_RELAXED_SIMD', what: 'relaxed simd build', flags: ['--enable', 'relaxed-simd'] },
      { name: 'KERNELS_SIMD_THREADS', what: 'simd threads build', flags: shared, twin: 'KERNELS_SIMD' },
      { name: 'KERNELS_RELAXED_SIMD_THREADS', what: 'relaxed simd threads build', flags: ['--enable', 'relaxed-simd', ...shared], twin: 'KERNELS_RELAXED_SIMD' },
    ],
  },
  {
    source: 'asm/ngram.ts',
    target: 'src/ngram/ngram-wasm.generated.ts',
    variants: [
      { name: 'NGRAM', what: 'for a plain memory', flags: [] },
      { name: 'NGRAM_SHARED', what: 'for a shared memory', flags: shared, twin: 'NGRAM' },
    ],
  },
  {
    source: 'asm/arpa.ts',
    target: 'src/ngram/arpa-wasm.generated.ts',
    variants: [{ name: 'ARPA', what: 'for a plain memory', flags: [] }],
  },
  {
    source: 'asm/interpolate.ts',
    target: 'src/ngram/interpolate-wasm.generated.ts',
    variants: [{ name: 'INTERPOLATE', what: 'for a plain memory', flags: [] }],
  },
  {
    source: 'asm/tokenize.ts',
    target: 'src/node/tokenize-wasm.generated.ts',
    variants: [{ name: 'TOKENIZE', what: 'for a plain memory', flags: [] }],
  },
];

/** The sections of a wasm binary as [id, bytes] pairs (the 8-byte header skipped). */
function sections(bytes) {
  const out = [];
  let p = 8;
  while (p < bytes.length) {
    const id = bytes[p++];
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[p++];
      size |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    out.push([id, bytes.subarray(p, p + size)]);
    p += size;
  }
  return out;
}

/** Throws unless a and b have the same sections, byte for byte, except the import section (id 2). */
function assertSameCode(a, b, what) {
  const sa = sections(a), sb = sections(b);
  const same = sa.length === sb.length && sa.every(([id, s], i) => id === sb[i][0] && (id === 2 || Buffer.compare(s, sb[i][1]) === 0));
  if (!same) throw new Error(`build-wasm: the ${what} differs from its single-thread twin outside the memory import`);
}

async function compile(file, flags) {
  let binary = null;
  let errors = '';
  const { error } = await asc.main([file, ...common, ...flags, '--outFile', 'out.wasm'], {
    readFile: (name, baseDir) => readFile(join(root, baseDir, name), 'utf8').catch(() => null),
    writeFile: (name, contents) => {
      if (name.endsWith('.wasm')) binary = contents;
    },
    stdout: { write: () => true },
    stderr: { write: (s) => ((errors += s), true) },
  });
  if (error || !binary) throw new Error(`asc failed on ${file} (${flags.join(' ') || 'simd'}):\n${errors}${error ?? ''}`);
  return binary;
}

const ascVersion = JSON.parse(await readFile(join(root, 'node_modules/assemblyscript/package.json'), 'utf8')).version;
const script = await readFile(fileURLToPath(import.meta.url));
for (const { source, target, variants } of targets) {
  const started = Date.now();
  // The inputs' fingerprint, kept in the output: when it matches, the build is skipped (asc takes
  // seconds, and every `npm test` builds).
  const fingerprint = createHash('sha256').update(await readFile(join(root, source))).update(script).update(ascVersion).digest('hex').slice(0, 16);
  const header = `// Generated by scripts/build-wasm.mjs from ${source}; do not edit (gitignored). Inputs ${fingerprint}.\n`;
  const path = join(root, target);
  const previous = await readFile(path, 'utf8').catch(() => null);
  if (previous?.startsWith(header)) {
    console.log(`build-wasm: ${source} unchanged since the last build`);
    continue;
  }
  let out = header;
  const built = new Map();
  for (const v of variants) {
    const bytes = await compile(source, v.flags);
    built.set(v.name, bytes);
    if (v.twin) assertSameCode(bytes, built.get(v.twin), `${source} ${v.what}`);
    out += `\n/** ${v.what}, ${bytes.length} bytes. */\n`;
    out += `export const ${v.name}_WASM_BASE64 =\n  '${Buffer.from(bytes).toString('base64')}';\n`;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, out);
  console.log(`build-wasm: ${variants.length} builds of ${source} in ${Date.now() - started} ms`);
}
