// The kernels on several threads give exactly the bits of one thread: every kernel that splits,
// on shapes around every range boundary, and a few training steps of every model family (the
// weights compared bit for bit after 1, 2 and 3 threads). Also: the thread option's checks, the
// shared memory, close(), and that idle workers never keep a process alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusFromText } from '../src/text/corpus.js';
import { buildModel, countIds, orderFor, resolveConfig, type ArchitectureOptions } from '../src/neural/build.js';
import { NEURAL_KINDS, type NeuralKind, type NeuralModel } from '../src/neural/model.js';
import { Random } from '../src/util/random.js';
import { availableKernelBackends, createKernels, type KernelBackend, type KernelOptions, type Kernels } from '../src/neural/kernels/index.js';
import { ranges, ThreadedWasmKernels } from '../src/neural/kernels/threaded.js';
import { KotobaError } from '../src/errors.js';
import { cli, repoRoot, tempDir } from './helpers.js';

const wasm = (await availableKernelBackends()).filter((b) => b !== 'js');
const skip = wasm.length === 0 ? 'no WebAssembly SIMD in this runtime' : false;

/** Same bits, NaN payloads included. */
function assertSameBits(a: Float32Array | Float64Array, b: Float32Array | Float64Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      const e = Math.floor(i / a.BYTES_PER_ELEMENT);
      assert.fail(`${what}: element ${e} is ${b[e]} on threads, ${a[e]} on one thread`);
    }
  }
}

/** Deterministic values in [-1, 1). */
function fill(x: Float32Array, seed: number): void {
  new Random(seed).fillUniform(x, -1, 1);
}

/** Buffers every kernel call of the test below takes its operands from (views of their starts). */
interface Work {
  k: Kernels;
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  ids: Int32Array;
}

const WORK_FLOATS = 1 << 17;

/** Kernels with their worker threads running (they start in the background). */
async function started(capacity: number, options: KernelOptions): Promise<Kernels> {
  const k = await createKernels(capacity, options);
  await k.ready;
  return k;
}

/**
 * Every product and row kernel splits, however small (element-wise kernels from `elements`
 * elements on), and the workers always run their share (the calling thread does not take it
 * from a worker that is late on a busy machine), so that chunks computed on other threads are
 * what gets compared.
 */
function forceWorkers(k: Kernels, elements: number): void {
  const t = k as ThreadedWasmKernels;
  t.splitMin = { product: 0, rows: 0, elements };
  t.callerSteals = false;
}

/** Chunks the workers (not the calling thread) have run. */
const workerChunks = (k: Kernels): number => (k instanceof ThreadedWasmKernels ? k.chunksRun().slice(1).reduce((a, b) => a + b, 0) : 0);

async function work(options: { backend: KernelBackend; threads?: number }, forceSplit = false): Promise<Work> {
  const k = await started(3 * WORK_FLOATS + 8192, options);
  if (forceSplit) forceWorkers(k, 0);
  return { k, a: k.alloc(WORK_FLOATS), b: k.alloc(WORK_FLOATS), c: k.alloc(WORK_FLOATS), ids: k.allocInt32(8192) };
}

/** Per wasm backend: one thread, then threads that split every call (however small) or at the default sizes. */
async function workSets(): Promise<{ label: string; w: Work }[]> {
  const out: { label: string; w: Work }[] = [];
  for (const backend of wasm) {
    out.push({ label: `${backend}, 1 thread`, w: await work({ backend }) });
    for (const threads of [2, 3]) out.push({ label: `${backend}, ${threads} threads, every call split`, w: await work({ backend, threads }, true) });
    out.push({ label: `${backend}, 2 threads, default sizes`, w: await work({ backend, threads: 2 }) });
  }
  return out;
}

test('ranges start at multiples of the granule, the last takes the remainder, none is empty', () => {
  const b = new Int32Array(9);
  assert.equal(ranges(203, 8, 2, b), 2);
  assert.deepEqual(Array.from(b.subarray(0, 3)), [0, 96, 203]);
  assert.equal(ranges(10001, 4, 3, b), 3);
  assert.deepEqual(Array.from(b.subarray(0, 4)), [0, 3332, 6664, 10001]);
  assert.equal(ranges(7, 8, 4, b), 1, 'less than one granule: one range');
  assert.deepEqual(Array.from(b.subarray(0, 2)), [0, 7]);
  assert.equal(ranges(17, 4, 8, b), 4, 'no more ranges than granules');
  assert.deepEqual(Array.from(b.subarray(0, 5)), [0, 4, 8, 12, 17]);
});

test('every kernel that splits gives the single-thread bits, on shapes around every range boundary', { skip }, async () => {
  const sets = await workSets();
  try {
    for (const backend of wasm) {
      const [one, ...many] = sets.filter((s) => s.label.startsWith(backend));
      const run = (f: (w: Work) => Float32Array | Float64Array, what: string) => {
        const expected = f(one!.w).slice();
        for (const s of many) assertSameBits(expected, f(s.w), `${s.label}: ${what}`);
      };
      // gemm: M across the 4-row tiles (1 takes the matrix-vector path), N across the 8-column
      // tiles, K across the 256-deep blocks; general beta, where edge and full tiles round differently.
      for (const M of [1, 2, 5, 9, 34]) {
        for (const N of [1, 7, 9, 17, 45]) {
          for (const K of [9, 300]) {
            for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
              for (const [alpha, beta] of [[1, 0], [1, 1], [0.7, -0.3]] as const) {
                run(({ k, a, b, c }) => {
                  const A = a.subarray(0, M * K), B = b.subarray(0, K * N), C = c.subarray(0, M * N);
                  fill(A, M * 7 + K);
                  fill(B, N * 11 + K);
                  fill(C, M + N);
                  k.gemm(tA, tB, M, N, K, alpha, A, B, beta, C);
                  return C;
                }, `gemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}×${N}×${K} α=${alpha} β=${beta}`);
              }
            }
          }
          // Strided: C and B inside wider matrices.
          run(({ k, a, b, c }) => {
            const A = a.subarray(0, M * 20), B = b.subarray(0, 20 * (N + 5)), C = c.subarray(0, M * (N + 3));
            fill(A, 1);
            fill(B, 2);
            fill(C, 3);
            k.gemm(false, false, M, N, 20, 1, A, B, 0.5, C, 20, N + 5, N + 3);
            return C;
          }, `gemm with strides ${M}×${N}`);
        }
      }
      for (const [M, N] of [[9, 13], [17, 200], [203, 31], [1, 5]]) {
        run(({ k, a, b, c }) => {
          const A = a.subarray(0, M * N), x = b.subarray(0, N), y = c.subarray(0, M);
          fill(A, M);
          fill(x, N);
          fill(y, 1);
          k.gemv(false, M, N, 0.5, A, x, 0.25, y);
          return y;
        }, `gemv ${M}×${N}`);
      }
      // Softmax rows, some ignored; 5000 rows run as two dispatches of the per-row loss buffer.
      for (const [rows, V] of [[2, 3], [7, 1001], [5000, 7]]) {
        run(({ k, a, b, ids }) => {
          const logits = a.subarray(0, rows * V), targets = ids.subarray(0, rows), losses = b.subarray(0, rows);
          fill(logits, rows);
          for (let i = 0; i < logits.length; i++) logits[i]! *= 10;
          for (let r = 0; r < rows; r++) targets[r] = r % 5 === 1 ? -1 : (r * 7919) % V;
          const total = k.softmaxCrossEntropy(rows, V, logits, targets, losses, logits, 1 / rows);
          const out = new Float64Array(rows * V + rows + 1);
          out.set(logits);
          out.set(losses, rows * V);
          out[rows * V + rows] = total;
          return out;
        }, `softmaxCrossEntropy ${rows}×${V} (dlogits in place, losses, total)`);
        run(({ k, a }) => {
          const x = a.subarray(0, rows * V);
          fill(x, V);
          k.logSoftmax(rows, V, x);
          return x;
        }, `logSoftmax ${rows}×${V}`);
        run(({ k, a, b }) => {
          const x = a.subarray(0, rows * V), bias = b.subarray(0, V);
          fill(x, 3);
          fill(bias, 4);
          k.addBias(rows, V, x, bias);
          return x;
        }, `addBias ${rows}×${V}`);
      }
      // Element-wise kernels, lengths around the 4-element groups.
      const ops: [string, (k: Kernels, n: number, a: Float32Array, b: Float32Array, c: Float32Array) => void][] = [
        ['tanhForward', (k, n, a, _b, c) => k.tanhForward(n, a, c)],
        ['tanhBackward', (k, n, a, b, c) => k.tanhBackward(n, a, b, c)],
        ['sigmoidForward', (k, n, a, _b, c) => k.sigmoidForward(n, a, c)],
        ['sigmoidBackward', (k, n, a, b, c) => k.sigmoidBackward(n, a, b, c)],
        ['axpy', (k, n, a, _b, c) => k.axpy(n, -0.3, a, c)],
        ['scale', (k, n, _a, _b, c) => k.scale(n, 1.7, c)],
        ['mul', (k, n, a, b, c) => k.mul(n, a, b, c)],
        ['mulAdd', (k, n, a, b, c) => k.mulAdd(n, a, b, c)],
      ];
      for (const n of [5, 33, 70001, 70003]) {
        for (const [name, op] of ops) {
          run(({ k, a, b, c }) => {
            const x = a.subarray(0, n), y = b.subarray(0, n), z = c.subarray(0, n);
            fill(x, 1);
            fill(y, 2);
            fill(z, 3);
            op(k, n, x, y, z);
            return z;
          }, `${name} n=${n}`);
        }
      }
    }
    // The workers took part.
    for (const s of sets) if (s.label.includes('every call split')) assert.ok(workerChunks(s.w.k) > 0, `${s.label}: no chunk ran on a worker`);
  } finally {
    for (const s of sets) s.w.k.close();
  }
});

// ---- training: every family, a few steps, the same weights on any thread count --------------

/** Lines of the embedded WikiText-2 slice: a real vocabulary, so the output layers are wide. */
const LINES = readFileSync(join(repoRoot, 'corpus', 'wiki.train.txt'), 'utf8').split('\n').slice(0, 800).filter((l) => l.trim());
const TRAIN = corpusFromText(LINES, { maxSize: 1500, lowercase: true });

/**
 * A configuration per family, small but with every layer it has (dropout, tied weights, class
 * softmax, direct connections). A family without an entry fails the test below: add it here.
 */
const FAMILIES: Record<string, { arch: ArchitectureOptions; shape: { batch: number; bptt: number }; lr: number }[]> = {
  loglinear: [{ arch: { order: 3, hashSize: 1 << 14 }, shape: { batch: 16, bptt: 1 }, lr: 1 }],
  ffnn: [
    { arch: { order: 4, embed: 16, hidden: 32, classes: 0 }, shape: { batch: 64, bptt: 1 }, lr: 1 },
    { arch: { order: 3, embed: 16, hidden: 24, classes: 30, direct: true }, shape: { batch: 64, bptt: 1 }, lr: 1 },
  ],
  rnn: [{ arch: { hidden: 32, classes: 30 }, shape: { batch: 8, bptt: 6 }, lr: 5 }],
  lstm: [
    { arch: { hidden: 32, layers: 2, dropout: 0.3, classes: 0 }, shape: { batch: 8, bptt: 6 }, lr: 20 },
    { arch: { hidden: 24, embed: 24, layers: 1, tied: true, classes: 20 }, shape: { batch: 8, bptt: 6 }, lr: 20 },
  ],
  gru: [{ arch: { hidden: 24, layers: 2, dropout: 0.2, classes: 20 }, shape: { batch: 8, bptt: 6 }, lr: 10 }],
  transformer: [{ arch: { embed: 16, hidden: 32, layers: 2, heads: 2, window: 6, classes: 0 }, shape: { batch: 8, bptt: 6 }, lr: 1 }],
};

/** Trains `steps` steps (forward, backward, clipped update) and validates; returns weights, losses and the carried state. */
async function trainFew(kind: NeuralKind, c: (typeof FAMILIES)[string][number], threads: number): Promise<{ weights: Float32Array; log: Float64Array; model: NeuralModel<unknown> }> {
  const config = resolveConfig(kind, c.arch, TRAIN.vocab.size);
  const counts = countIds(TRAIN.tokens, TRAIN.vocab.size);
  const model = await buildModel(config, TRAIN.vocab, orderFor(config, counts), { shape: c.shape, threads });
  assert.equal(model.kernels.threads, threads);
  await model.kernels.ready;
  // Every call split, however small, so that the ranges of each kernel meet the model's own
  // shapes; except the LSTM's per-row gate activations (under 128 elements), thousands of
  // dispatches that only slow the test (the kernel test above splits those sizes).
  if (threads > 1) forceWorkers(model.kernels, 128);
  model.initialize(new Random(1, 0), counts);
  const rng = new Random(2);
  const steps = Math.min(3, model.beginEpoch(TRAIN.tokens, new Random(3)));
  const log = new Float64Array(2 * steps + 2);
  for (let s = 0; s < steps; s++) {
    log[2 * s] = model.trainStep(s, rng).nats;
    log[2 * s + 1] = model.update(c.lr, 0.25, 1e-5);
  }
  log[2 * steps] = model.evaluate(TRAIN.tokens.subarray(0, 400)).nats;
  const carried = model.carried();
  log[2 * steps + 1] = carried ? carried.reduce((a, x) => a + x, 0) : 0;
  return { weights: model.params.values.slice(), log, model };
}

test('every family has a configuration in the thread determinism test', () => {
  for (const kind of NEURAL_KINDS) assert.ok(FAMILIES[kind], `add a small ${kind} configuration to FAMILIES in test/threads.test.ts`);
});

for (const kind of NEURAL_KINDS) {
  test(`${kind}: training steps give bit-identical weights, losses and norms on 1, 2 and 3 threads`, { skip }, async () => {
    for (const c of FAMILIES[kind] ?? []) {
      const what = `${kind} ${JSON.stringify(c.arch)}`;
      const one = await trainFew(kind, c, 1);
      for (const threads of [2, 3]) {
        const many = await trainFew(kind, c, threads);
        try {
          assertSameBits(one.log, many.log, `${what} on ${threads} threads (every call split): losses, gradient norms, validation`);
          assertSameBits(one.weights, many.weights, `${what} on ${threads} threads (every call split): weights`);
          assert.ok(workerChunks(many.model.kernels) > 0, `${what} on ${threads} threads: no chunk ran on a worker`);
          // Scoring too: a sentence's log10 probabilities.
          const ids = Uint32Array.from([...TRAIN.tokens.subarray(1, 12), 2]);
          const a = new Float64Array(ids.length), b = new Float64Array(ids.length);
          one.model.scoreSentence!(ids, a);
          many.model.scoreSentence!(ids, b);
          assertSameBits(a, b, `${what} on ${threads} threads: scoreSentence`);
        } finally {
          many.model.kernels.close();
        }
      }
    }
  });
}

// ---- the option, the memory, the workers -----------------------------------------------------

test('threads: checked, auto is every core on Node, the js backend has one, the memory is shared', { skip }, async () => {
  await assert.rejects(createKernels(16, { threads: 0 }), (e: unknown) => e instanceof KotobaError && /threads must be a whole number from 1 to 256, got 0/.test(e.message));
  await assert.rejects(createKernels(16, { threads: 1.5 }), KotobaError);
  await assert.rejects(createKernels(16, { threads: 257 }), KotobaError);
  await assert.rejects(createKernels(16, { backend: 'js', threads: 2 }), /the js kernels run on one thread, not 2/);
  assert.equal((await createKernels(16, { backend: 'js', threads: 'auto' })).threads, 1);
  const one = await createKernels(16);
  assert.equal(one.threads, 1);
  assert.ok(one.alloc(4).buffer instanceof ArrayBuffer, 'one thread: a plain ArrayBuffer');
  const auto = await createKernels(16, { threads: 'auto' });
  try {
    assert.equal(auto.threads, availableParallelism());
    if (auto.threads > 1) assert.ok(auto.alloc(4).buffer instanceof SharedArrayBuffer, 'threads: a SharedArrayBuffer');
  } finally {
    auto.close();
  }
  const k = await createKernels(1 << 20, { threads: 2 });
  const a = k.alloc(1 << 18), b = k.alloc(1 << 18);
  k.axpy(1 << 18, 1, a, b);
  k.close();
  k.close(); // twice is fine
  assert.throws(() => k.axpy(1 << 18, 1, a, b), /used after close/);
});

test('where memory cannot be shared (a page that is not cross-origin isolated): one thread, or a clear error', { skip }, async () => {
  const g = globalThis as { crossOriginIsolated?: boolean };
  g.crossOriginIsolated = false;
  try {
    const k = await createKernels(16, { threads: 'auto' });
    assert.equal(k.threads, 1);
    assert.ok(k.alloc(4).buffer instanceof ArrayBuffer);
    await assert.rejects(createKernels(16, { threads: 2 }), (e: unknown) => e instanceof KotobaError && /2 threads need shared memory/.test(e.message) && /COOP\/COEP/.test(e.message));
  } finally {
    delete g.crossOriginIsolated;
  }
});

test('idle workers never keep a process alive', { skip }, () => {
  // A script that starts 3 threads, computes, and ends without close(): it must exit at once.
  const script = `import { createKernels } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'neural', 'kernels', 'index.js'))};
const k = await createKernels(1 << 20, { threads: 3 });
const a = k.alloc(1 << 18), b = k.alloc(1 << 18);
k.axpy(1 << 18, 1, a, b);
console.log('done', k.threads);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `exit status ${r.status} (signal ${r.signal}): ${r.stderr}`);
  assert.equal(r.stdout, 'done 3\n');
});

test('kotoba --threads: the same model and perplexity on 1 and 2 threads; a bad count is a one-line error', { skip }, () => {
  const kotoba = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const text = join(repoRoot, 'corpus', 'wiki.valid.txt');
  const { dir, cleanup } = tempDir();
  try {
    const files: string[] = [];
    for (const t of ['1', '2']) {
      const out = join(dir, `lstm${t}.safetensors`);
      const r = kotoba(['train', '--model', 'lstm', '--hidden', '16', '--layers', '1', '--lowercase', '--min-count', '2', '--max-steps', '3', '--batch', '8', '--threads', t, '--json', '-o', out, text]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { threads: number }).threads, Number(t));
      files.push(out);
    }
    const ppl = ['1', '3'].map((t) => {
      const r = kotoba(['ppl', '--lowercase', '--threads', t, files[0]!, text]);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    });
    assert.equal(ppl[1], ppl[0], 'ppl on 3 threads prints what ppl on 1 prints');
    const other = kotoba(['ppl', '--lowercase', '--threads', '1', files[1]!, text]);
    assert.equal(other.stdout, ppl[0], 'the model trained on 2 threads scores as the one trained on 1');
    for (const bad of ['0', '1000']) {
      const r = kotoba(['ppl', '--threads', bad, files[0]!, text]);
      assert.equal(r.status, 1);
      assert.equal(r.stderr, `kotoba: --threads must be an integer 1 ≤ N ≤ 256, not ${bad} (see 'kotoba ppl --help')\n`);
    }
  } finally {
    cleanup();
  }
});
