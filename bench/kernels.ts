// Kernel benchmark (not a test): GFLOP/s of gemm on the shapes the neural models use, for each
// kernel backend on one thread and the fastest one on 2 threads (--threads 1,2 by default), next
// to numpy (OpenBLAS) and PyTorch measured in the same run on the same shapes, on one thread and
// on the largest thread count asked for; then the time per call of the other hot kernels.
//
//   npm run bench:kernels                          (about a minute)
//   node dist/bench/kernels.js --threads 1,2,4
//
// Each number is the best of 2 rounds × 5 timed runs of at least 40 ms each, after a warm-up:
// the best run is the one least disturbed by the machine's other work, and the rounds alternate
// between kotoba and the peers so that a burst of other work spoils at most one of each side.
// Python runs as /usr/bin/python3 with OPENBLAS_CORETYPE (default SkylakeX, see
// bench/results/neural.md for why), OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = torch threads; a
// missing numpy or torch is reported, not fatal.

import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { availableKernelBackends, createKernels, floatsFor, type KernelBackend, type Kernels } from '../src/neural/kernels/index.js';
import { machineDescription, today } from './lib/machine.js';
import { markdownTable, num } from './lib/table.js';

interface Shape {
  /** What the product is in a model. */
  what: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
}

const B = 20, T = 35, H = 200, V = 10000, G = 4 * H;
const R = B * T; // rows of a training step's output layer (a minibatch of B streams × BPTT T)
const shape = (what: string, tAB: string, M: number, N: number, K: number): Shape => ({ what, transA: tAB[0] === 'T', transB: tAB[1] === 'T', M, N, K });

const SHAPES: Shape[] = [
  // LSTM 2×200 full softmax, one training step (bench:neural's LSTM row)
  shape('train: logits = X·Wᵀ', 'NT', R, V, H),
  shape('train: dW += dLᵀ·X', 'TN', V, H, R),
  shape('train: dX = dL·W', 'NN', R, H, V),
  shape('train: LSTM gates = X·Wx', 'NN', R, G, H),
  shape('train: LSTM dWx += Xᵀ·dA', 'TN', H, G, R),
  shape('train: LSTM dX = dA·Wxᵀ', 'NT', R, H, G),
  shape('step: LSTM h·Wh', 'NN', B, G, H),
  shape('step: LSTM dh = dA·Whᵀ', 'NT', B, H, G),
  shape('step: RNN h·U', 'NN', B, H, H),
  // one step of 20 streams (scoring), one row (generation)
  shape('score: logits = h·W', 'NN', B, V, H),
  shape('score: logits = h·Eᵀ (tied)', 'NT', B, V, H),
  shape('generation 1×H·H×V', 'NN', 1, V, H),
  shape('generation, tied', 'NT', 1, V, H),
];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Thread counts to measure the fastest backend at (the first is the baseline of the speed-ups). */
const THREADS = (option('threads') ?? '1,2').split(',').map(Number);
if (THREADS.some((t) => !Number.isInteger(t) || t < 1)) throw new Error('--threads takes whole numbers, e.g. 1,2');
const PEER_THREADS = Math.max(...THREADS);
const CORETYPE = process.env.OPENBLAS_CORETYPE ?? 'SkylakeX';

/** Best seconds per call of fn: 5 runs of ≥ 40 ms after a warm-up. */
function timeIt(fn: () => void): number {
  return timeAndCpu(fn).seconds;
}

/**
 * Best wall seconds per call of fn (see above), and the CPU seconds per call of all the
 * process's threads over all the runs. The CPU time is what a shared machine cannot inflate: if
 * two threads use about the CPU time of one, each does half of the work with no overhead, and on
 * two idle cores the call takes half the time (Linux's autogroup gives a session one share of
 * a busy machine however many threads it has, so wall times there do not show it).
 */
function timeAndCpu(fn: () => void): { seconds: number; cpu: number } {
  fn();
  fn();
  let best = Infinity;
  let calls = 0;
  const c0 = process.cpuUsage();
  for (let run = 0; run < 5; run++) {
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      fn();
      n++;
      dt = performance.now() - t0;
    } while (dt < 40);
    calls += n;
    best = Math.min(best, dt / 1000 / n);
  }
  const c = process.cpuUsage(c0);
  return { seconds: best, cpu: (c.user + c.system) / 1e6 / calls };
}

const flops = (s: Shape): number => 2 * s.M * s.N * s.K;

/** A gemm runner for one backend and thread count: random operands, C overwritten (beta 0); GFLOP/s and CPU seconds per call. */
async function gemmRunner(backend: KernelBackend, threads: number): Promise<{ run: (s: Shape) => { gflops: number; cpu: number }; kernels: Kernels }> {
  const most = Math.max(...SHAPES.map((s) => Math.max(s.M * s.K, s.K * s.N, s.M * s.N)));
  const k: Kernels = await createKernels(floatsFor(most, most, most), { backend, threads });
  await k.ready;
  const A = k.alloc(most), Bm = k.alloc(most), C = k.alloc(most);
  for (let i = 0; i < most; i++) {
    A[i] = Math.random() - 0.5;
    Bm[i] = Math.random() - 0.5;
  }
  return {
    run: (s) => {
      const t = timeAndCpu(() => k.gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, Bm, 0, C));
      return { gflops: flops(s) / t.seconds / 1e9, cpu: t.cpu };
    },
    kernels: k,
  };
}

/** The same measurements in Python (numpy or torch); null with a reason when unavailable. */
function measurePython(lib: 'numpy' | 'torch', threads: number): { gflops: number[] | null; note: string } {
  const script = String.raw`
import json, sys, time
shapes = json.loads(sys.stdin.read())
import numpy as np
LIB = "${lib}"
if LIB == "torch":
    import torch
    torch.set_num_threads(${threads})
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
    env: { ...process.env, OPENBLAS_CORETYPE: CORETYPE, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
    timeout: 120_000,
  });
  if (r.status !== 0) {
    const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').at(-1) ?? 'failed';
    return { gflops: null, note: `${lib}: not measured (${why})` };
  }
  const parsed = JSON.parse(r.stdout) as { version: string; gflops: number[] };
  return { gflops: parsed.gflops, note: `${parsed.version}, ${threads} thread${threads > 1 ? 's' : ''}` };
}

/** µs per call of the other hot kernels, at the model's shapes, per configuration. */
async function otherKernels(configs: { label: string; backend: KernelBackend; threads: number }[]): Promise<string> {
  const rows: [string, (k: Kernels, a: Float32Array, b: Float32Array, c: Float32Array, t: Int32Array, l: Float32Array) => void][] = [
    [`softmaxCrossEntropy ${R}×${V} + grad`, (k, a, _b, c, t, l) => void k.softmaxCrossEntropy(R, V, a, t, l, c, 1 / R)],
    [`softmaxCrossEntropy ${B}×${V} + grad`, (k, a, _b, c, t, l) => void k.softmaxCrossEntropy(B, V, a, t, l, c, 1 / B)],
    [`logSoftmax 1×${V}`, (k, a) => k.logSoftmax(1, V, a)],
    [`addBias ${R}×${V}`, (k, a, b) => k.addBias(R, V, a, b)],
    [`sumRows ${R}×${V}`, (k, a, b) => k.sumRows(R, V, a, b)],
    [`tanhForward ${B}×${H}`, (k, a, _b, c) => k.tanhForward(B * H, a, c)],
    [`sigmoidForward ${B}×${G}`, (k, a, _b, c) => k.sigmoidForward(B * G, a, c)],
    [`embeddingGather ${R}×${H}`, (k, a, b, _c, t) => k.embeddingGather(R, H, a, t, b)],
    [`axpy ${H}×${V}`, (k, a, b) => k.axpy(H * V, -0.01, a, b)],
    [`sumSquares ${H}×${V}`, (k, a) => void k.sumSquares(H * V, a)],
  ];
  const n = R * V;
  const times: number[][] = [];
  for (const { backend, threads } of configs) {
    const k = await createKernels(floatsFor(n, n, n, R, R), { backend, threads });
    await k.ready;
    const a = k.alloc(n), b = k.alloc(n), c = k.alloc(n), t = k.allocInt32(R), l = k.alloc(R);
    for (let i = 0; i < n; i++) {
      a[i] = Math.random() * 4 - 2;
      b[i] = Math.random() - 0.5;
    }
    for (let r = 0; r < R; r++) t[r] = (r * 7919) % V;
    times.push(rows.map(([, fn]) => timeIt(() => fn(k, a, b, c, t, l)) * 1e6));
    k.close();
  }
  return markdownTable(['kernel (µs per call, lower is better)', ...configs.map((c) => c.label)], rows.map(([name], i) => [name, ...times.map((t) => num(t[i]!))]));
}

/** Element-wise maximum of two rows of numbers (null: not measured). */
const maxOf = (a: number[] | null, b: number[] | null): number[] | null => (a && b ? a.map((x, i) => Math.max(x, b[i]!)) : (a ?? b));

async function main(): Promise<void> {
  const backends = await availableKernelBackends();
  const best = backends[0]!;
  const wasm = best !== 'js';
  // The fastest backend at each thread count, then the others on one thread.
  const configs = [
    ...(wasm ? THREADS : [1]).map((threads) => ({ label: `${best}, ${threads} thread${threads > 1 ? 's' : ''}`, backend: best, threads })),
    ...backends.slice(1).map((backend) => ({ label: `${backend}, 1 thread`, backend, threads: 1 })),
  ];
  console.log(`# kotoba kernel benchmark (\`npm run bench:kernels\`), ${today()}`);
  console.log('');
  console.log(`${machineDescription()}; load average ${loadavg()[0]!.toFixed(2)} at start. GFLOP/s, float32, higher is better.`);
  console.log('');
  const runners: Awaited<ReturnType<typeof gemmRunner>>[] = [];
  for (const c of configs) runners.push(await gemmRunner(c.backend, c.threads));
  // Two rounds, ours then the peers', keeping each cell's best: a burst of other work on the
  // machine then spoils at most one round of each side instead of skewing the ratios.
  let ours: number[][] = configs.map(() => SHAPES.map(() => 0));
  let cpu: number[][] = configs.map(() => SHAPES.map(() => Infinity));
  let numpy: { gflops: number[] | null; note: string } = { gflops: null, note: '' };
  const torch: { gflops: number[] | null; note: string }[] = [1, PEER_THREADS].map(() => ({ gflops: null, note: '' }));
  const torchThreads = PEER_THREADS > 1 ? [1, PEER_THREADS] : [1];
  for (let round = 0; round < 2; round++) {
    const measured = runners.map((r) => SHAPES.map((s) => r.run(s)));
    ours = ours.map((row, c) => row.map((x, i) => Math.max(x, measured[c]![i]!.gflops)));
    cpu = cpu.map((row, c) => row.map((x, i) => Math.min(x, measured[c]![i]!.cpu)));
    const n = measurePython('numpy', 1);
    numpy = { gflops: maxOf(numpy.gflops, n.gflops), note: n.note };
    torchThreads.forEach((t, j) => {
      const m = measurePython('torch', t);
      torch[j] = { gflops: maxOf(torch[j]!.gflops, m.gflops), note: m.note };
    });
  }
  for (const r of runners) r.kernels.close();
  const base = 0; // the fastest backend on THREADS[0] threads
  const speedups = wasm ? THREADS.slice(1).map((t, j) => ({ label: `${t}T / ${THREADS[0]}T`, column: j + 1 })) : [];
  const cpuRatios = wasm ? THREADS.slice(1).map((t, j) => ({ label: `CPU ${t}T / ${THREADS[0]}T`, column: j + 1 })) : [];
  const peers = [
    { label: 'numpy 1T', p: numpy },
    ...torchThreads.map((t, j) => ({ label: `torch ${t}T`, p: torch[j]! })),
  ].filter((x) => x.p.gflops);
  const lastOurs = wasm ? THREADS.length - 1 : 0;
  // Columns: the fastest backend per thread count, its speed-ups, the other backends, the peers.
  const spread = <T>(cells: T[], extra: T[]): T[] => [...cells.slice(0, THREADS.length), ...extra, ...cells.slice(THREADS.length)];
  const header = ['product', 'op', 'M×N×K', ...spread(configs.map((c) => c.label), [...speedups, ...cpuRatios].map((s) => s.label)), ...peers.map((x) => x.label)];
  if (peers.some((x) => x.label === `torch ${PEER_THREADS}T`)) header.push(`kotoba ${THREADS[lastOurs]}T / torch ${PEER_THREADS}T`);
  const rows = SHAPES.map((s, i) => {
    const row = [s.what, (s.transA ? 'T' : 'N') + (s.transB ? 'T' : 'N'), `${s.M}×${s.N}×${s.K}`];
    row.push(
      ...spread(
        ours.map((o) => o[i]!.toFixed(1)),
        [...speedups.map((sp) => `${(ours[sp.column]![i]! / ours[base]![i]!).toFixed(2)}×`), ...cpuRatios.map((sp) => `${(cpu[sp.column]![i]! / cpu[base]![i]!).toFixed(2)}×`)],
      ),
    );
    row.push(...peers.map((x) => x.p.gflops![i]!.toFixed(1)));
    const torchMost = peers.find((x) => x.label === `torch ${PEER_THREADS}T`);
    if (torchMost) row.push(`${(ours[lastOurs]![i]! / torchMost.p.gflops![i]!).toFixed(2)}×`);
    return row;
  });
  console.log('## gemm');
  console.log('');
  console.log(markdownTable(header, rows, header.map((_, c) => (c === 0 ? 'l' : 'r'))));
  console.log('');
  console.log(`Peers: ${[numpy.note, ...torch.filter((t) => t.note).map((t) => t.note)].join('; ')}; OPENBLAS_CORETYPE=${CORETYPE}.`);
  if (cpuRatios.length) {
    console.log('"CPU nT / 1T": CPU seconds per call of all threads on n threads over those on one (1.00× = no overhead: on n idle cores, n times faster).');
  }
  console.log('');
  console.log('## Other kernels');
  console.log('');
  console.log(await otherKernels(configs));
}

await main();
