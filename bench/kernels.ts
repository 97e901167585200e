// Kernel benchmark (not a test): GFLOP/s of gemm on the shapes the neural models use, for each
// kernel backend, next to numpy (OpenBLAS, one thread) and PyTorch (one thread) measured in the
// same run on the same shapes, as ratios; then the time per call of the other hot kernels.
//
//   npm run bench:kernels                  (about 40 s)
//   taskset -c 1 npm run bench:kernels     (steadier: on a shared VM an unpinned process
//                                           showed swings of ±30% between runs)
//
// Each number is the best of 2 rounds × 5 timed runs of at least 40 ms each, after a warm-up:
// the best run is the one least disturbed by the machine's other work. Python runs as /usr/bin/python3 with
// OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1; a missing numpy or torch is reported, not fatal.

import { spawnSync } from 'node:child_process';
import { availableKernelBackends, createKernels, floatsFor, type KernelBackend, type Kernels } from '../src/neural/kernels/index.js';

interface Shape {
  /** What the product is in a model. */
  what: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
}

const B = 20, H = 200, V = 10000, G = 4 * H;
const shape = (what: string, tAB: string, M: number, N: number, K: number): Shape => ({ what, transA: tAB[0] === 'T', transB: tAB[1] === 'T', M, N, K });

const SHAPES: Shape[] = [
  shape('logits = h·W', 'NN', B, V, H),
  shape('logits = h·Eᵀ (tied)', 'NT', B, V, H),
  shape('same, A stored transposed', 'TN', B, V, H),
  shape('same, both transposed', 'TT', B, V, H),
  shape('dW = hᵀ·dlogits', 'TN', H, V, B),
  shape('dh = dlogits·Wᵀ', 'NT', B, H, V),
  shape('LSTM gates = x·W', 'NN', B, G, H),
  shape('LSTM dW = xᵀ·dgates', 'TN', H, G, B),
  shape('LSTM dx = dgates·Wᵀ', 'NT', B, H, G),
  shape('RNN h·U', 'NN', B, H, H),
  shape('RNN dU = hᵀ·dh', 'TN', H, H, B),
  shape('RNN dh = dh·Uᵀ', 'NT', B, H, H),
  shape('generation 1×H·H×V', 'NN', 1, V, H),
  shape('generation, tied', 'NT', 1, V, H),
];

/** Best seconds per call of fn: 5 runs of ≥ 40 ms after a warm-up. */
function timeIt(fn: () => void): number {
  fn();
  fn();
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    let calls = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      fn();
      calls++;
      dt = performance.now() - t0;
    } while (dt < 40);
    best = Math.min(best, dt / 1000 / calls);
  }
  return best;
}

const flops = (s: Shape): number => 2 * s.M * s.N * s.K;

/** A gemm runner for one backend: random operands, C overwritten (beta 0). */
async function gemmRunner(backend: KernelBackend): Promise<(s: Shape) => number> {
  const most = Math.max(...SHAPES.map((s) => Math.max(s.M * s.K, s.K * s.N, s.M * s.N)));
  const k: Kernels = await createKernels(floatsFor(most, most, most), { backend });
  const A = k.alloc(most), Bm = k.alloc(most), C = k.alloc(most);
  for (let i = 0; i < most; i++) {
    A[i] = Math.random() - 0.5;
    Bm[i] = Math.random() - 0.5;
  }
  return (s) => flops(s) / timeIt(() => k.gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, Bm, 0, C)) / 1e9;
}

/** The same measurements in Python (numpy or torch); null with a reason when unavailable. */
function measurePython(lib: 'numpy' | 'torch'): { gflops: number[] | null; note: string } {
  const script = String.raw`
import json, sys, time
shapes = json.loads(sys.stdin.read())
import numpy as np
LIB = "${lib}"
if LIB == "torch":
    import torch
    torch.set_num_threads(1)
    version = "torch " + torch.__version__
else:
    version = "numpy " + np.__version__
def best(fn):
    fn(); fn()
    b = float("inf")
    for _ in range(5):
        calls = 0; t0 = time.perf_counter()
        while True:
            fn(); calls += 1
            dt = time.perf_counter() - t0
            if dt >= 0.04: break
        b = min(b, dt / calls)
    return b
out = []
rng = np.random.default_rng(0)
for s in shapes:
    M, N, K = s["M"], s["N"], s["K"]
    a = (rng.random((K, M) if s["transA"] else (M, K), dtype=np.float32) - 0.5)
    b = (rng.random((N, K) if s["transB"] else (K, N), dtype=np.float32) - 0.5)
    c = np.empty((M, N), dtype=np.float32)
    if LIB == "torch":
        a, b, c = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        opa = a.t() if s["transA"] else a
        opb = b.t() if s["transB"] else b
        fn = lambda: torch.matmul(opa, opb, out=c)
    else:
        opa = a.T if s["transA"] else a
        opb = b.T if s["transB"] else b
        fn = lambda: np.matmul(opa, opb, out=c)
    out.append(2 * M * N * K / best(fn) / 1e9)
print(json.dumps({"version": version, "gflops": out}))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], {
    input: JSON.stringify(SHAPES),
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_CORETYPE: 'SkylakeX', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
    timeout: 120_000,
  });
  if (r.status !== 0) {
    const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').at(-1) ?? 'failed';
    return { gflops: null, note: `${lib}: not measured (${why})` };
  }
  const parsed = JSON.parse(r.stdout) as { version: string; gflops: number[] };
  return { gflops: parsed.gflops, note: `${parsed.version}, one thread` };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padEnd(n) : s.padStart(n);
}

async function otherKernels(backends: KernelBackend[]): Promise<void> {
  const rows: [string, (k: Kernels, a: Float32Array, b: Float32Array, c: Float32Array, t: Int32Array, l: Float32Array) => void][] = [
    [`softmaxCrossEntropy ${B}×${V} + grad`, (k, a, _b, c, t, l) => void k.softmaxCrossEntropy(B, V, a, t, l, c, 1 / B)],
    [`logSoftmax 1×${V}`, (k, a) => k.logSoftmax(1, V, a)],
    [`tanhForward ${B}×${H}`, (k, a, _b, c) => k.tanhForward(B * H, a, c)],
    [`sigmoidForward ${B}×${G}`, (k, a, _b, c) => k.sigmoidForward(B * G, a, c)],
    [`tanhBackward ${B}×${H}`, (k, a, b, c) => k.tanhBackward(B * H, a, b, c)],
    [`addBias ${B}×${V}`, (k, a, b) => k.addBias(B, V, a, b)],
    [`sumRows ${B}×${V}`, (k, a, b) => k.sumRows(B, V, a, b)],
    [`embeddingGather ${B}×${H}`, (k, a, b, _c, t) => k.embeddingGather(B, H, a, t, b)],
    [`axpy ${H}×${V}`, (k, a, b) => k.axpy(H * V, -0.01, a, b)],
    [`sumSquares ${H}×${V}`, (k, a) => void k.sumSquares(H * V, a)],
  ];
  const n = H * V;
  const times: number[][] = [];
  for (const backend of backends) {
    const k = await createKernels(floatsFor(n, n, n, B, B), { backend });
    const a = k.alloc(n), b = k.alloc(n), c = k.alloc(n), t = k.allocInt32(B), l = k.alloc(B);
    for (let i = 0; i < n; i++) {
      a[i] = Math.random() * 4 - 2;
      b[i] = Math.random() - 0.5;
    }
    for (let r = 0; r < B; r++) t[r] = (r * 7919) % V;
    times.push(rows.map(([, fn]) => timeIt(() => fn(k, a, b, c, t, l)) * 1e6));
  }
  console.log(`\nOther kernels, µs per call (lower is better)\n`);
  console.log(pad('kernel', 40, true) + backends.map((b) => pad(b, 19)).join(''));
  rows.forEach(([name], i) => console.log(pad(name, 40, true) + times.map((t) => pad(t[i].toFixed(1), 19)).join('')));
}

/** Element-wise maximum of two rows of numbers (null: not measured). */
const maxOf = (a: number[] | null, b: number[] | null): number[] | null => (a && b ? a.map((x, i) => Math.max(x, b[i])) : (a ?? b));

async function main(): Promise<void> {
  const backends = await availableKernelBackends();
  console.log(`kotoba kernel benchmark — gemm GFLOP/s, one core, float32 (backends: ${backends.join(', ')})\n`);
  const runners = await Promise.all(backends.map(gemmRunner));
  // Two rounds, ours then the peers', keeping each cell's best: a burst of other work on the
  // machine then spoils at most one round of each side instead of skewing the ratios.
  let ours: number[][] = backends.map(() => SHAPES.map(() => 0));
  let numpy: { gflops: number[] | null; note: string } = { gflops: null, note: '' };
  let torch: { gflops: number[] | null; note: string } = { gflops: null, note: '' };
  for (let round = 0; round < 2; round++) {
    ours = ours.map((row, b) => SHAPES.map((s, i) => Math.max(row[i], runners[b](s))));
    const n = measurePython('numpy'), t = measurePython('torch');
    numpy = { gflops: maxOf(numpy.gflops, n.gflops), note: n.note };
    torch = { gflops: maxOf(torch.gflops, t.gflops), note: t.note };
  }
  const peers = [
    ['numpy', numpy],
    ['torch', torch],
  ] as const;

  const head =
    pad('product', 28, true) + pad('op', 4) + pad('M×N×K', 16) +
    backends.map((b) => pad(b, 19)).join('') +
    peers.map(([name, p]) => (p.gflops ? pad(name, 8) : '')).join('') +
    peers.map(([name, p]) => (p.gflops ? pad(`best/${name}`, 12) : '')).join('');
  console.log(head);
  console.log('-'.repeat(head.length));
  SHAPES.forEach((s, i) => {
    const best = ours[0][i];
    let line = pad(s.what, 28, true) + pad((s.transA ? 'T' : 'N') + (s.transB ? 'T' : 'N'), 4) + pad(`${s.M}×${s.N}×${s.K}`, 16);
    line += ours.map((o) => pad(o[i].toFixed(1), 19)).join('');
    line += peers.map(([, p]) => (p.gflops ? pad(p.gflops[i].toFixed(1), 8) : '')).join('');
    line += peers.map(([, p]) => (p.gflops ? pad((best / p.gflops[i]).toFixed(2), 12) : '')).join('');
    console.log(line);
  });
  console.log(`\nbest = ${backends[0]}. ${numpy.note}; ${torch.note}.`);
  await otherKernels(backends);
}

await main();
