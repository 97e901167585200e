// Neural benchmark (not a test): kotoba's neural models on Penn Treebank (Mikolov's split,
// ../shared/data/ptb) next to the same architectures in PyTorch (CPU, 2 threads, same sizes,
// minibatch and BPTT), trained in the same run, printed as one Markdown table with ratios.
//
//   npm run bench:neural                          speed: training and scoring tokens/s, GFLOP/s
//   npm run bench:neural -- --long                long runs: validation and test perplexity
//   node dist/bench/neural.js --long --max-time 900 --models rnn,lstm
//   node dist/bench/neural.js --models lstm --steps 20 --threads 2
//   node dist/bench/neural.js --long --context stream --models lstm,gru     trained in stream context
//   node dist/bench/neural.js --eval MODEL.safetensors [TEXT]   test perplexity under each protocol
//   node dist/bench/neural.js --phases --models lstm,gru,transformer   where a training step's time goes,
//                                                 kernel call by call, next to PyTorch's profiler
//
// (bench/long-runs.sh holds the multi-hour runs of issue 9: LSTM and Transformer against PyTorch.)
//
// Speed mode: each model trains `--steps` minibatches after 3 untimed ones (the best of 2 runs
// of that, as the machine is shared and noisy), on --threads kernel threads (default 2) and on
// one, then scores the validation text twice: batched across streams/rows (what validation does)
// and sentence by sentence (what `kotoba ppl` does). The two thread counts train the same
// weights (checked). PyTorch runs bench/neural_torch.py with /usr/bin/python3, right after
// kotoba (never at the same time), on the same data, at its best settings on this machine (see
// bench/results/neural.md): OPENBLAS_CORETYPE=SkylakeX, ATEN_CPU_CAPABILITY=avx512 (PyTorch 1.13
// dispatches its own kernels to AVX2 unless asked; AVX-512 trains the LSTM about 10 % faster
// here), OMP_NUM_THREADS = torch.set_num_threads(--threads).
//
// Long mode: each model trains with the CLI's defaults for up to --max-time seconds (default
// 900, the 15 minutes) with validation after each epoch, keeps the best weights, and
// reports validation and test perplexity (one line = one sentence, </s> counted: comparable
// with the n-gram models). Several models run one after another, never two at once.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scoreTokens } from '../src/lm.js';
import { buildModel, countIds, orderFor, resolveConfig, type ArchitectureOptions } from '../src/neural/build.js';
import type { NeuralKind, NeuralModel } from '../src/neural/model.js';
import { Random } from '../src/util/random.js';
import { Trainer } from '../src/neural/trainer.js';
import { createKernels } from '../src/neural/kernels/index.js';
import { readCorpus } from '../src/node/corpus-files.js';
import { loadNeuralModel } from '../src/node/neural-files.js';
import type { StreamModel } from '../src/neural/recurrent.js';
import { TRAINING_DEFAULTS } from '../src/cli/train-neural.js';
import type { Corpus } from '../src/text/corpus.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ptbDir = join(repoRoot, '..', 'shared', 'data', 'ptb');
const PYTHON = '/usr/bin/python3';

interface Bench {
  kind: NeuralKind;
  name: string;
  arch: ArchitectureOptions;
}

/** The architectures of the issue: Mikolov's RNN (200 hidden, 100 classes), a 2×200 LSTM with a full softmax. */
const BENCHES: Bench[] = [
  { kind: 'loglinear', name: 'log-linear 3-gram', arch: { order: 3 } },
  { kind: 'ffnn', name: 'feed-forward 5-gram', arch: { order: 5 } },
  { kind: 'rnn', name: 'RNN 200, 100 classes', arch: { hidden: 200, classes: 100 } },
  { kind: 'lstm', name: 'LSTM 2×200, full softmax', arch: { hidden: 200, layers: 2, classes: 0 } },
  { kind: 'gru', name: 'GRU 2×200, full softmax', arch: { hidden: 200, layers: 2, classes: 0 } },
  // PyTorch's word_language_model defaults: emsize 200, nhid 200, 2 layers, 2 heads, bptt 35, dropout 0.2.
  { kind: 'transformer', name: 'Transformer 2×200, 2 heads, full softmax', arch: { embed: 200, hidden: 200, layers: 2, heads: 2, dropout: 0.2, classes: 0 } },
];

/** Reference points measured on these machines (from the issue). */
const REFERENCES = [
  "Mikolov's RNNLM toolkit (C++, 1 thread): RNN 200 hidden, 100 classes: ~26,000 words/s, test perplexity 143.9 in 13 min (state carried across sentences)",
  'PyTorch 1.13 (OpenBLAS, 2 threads): LSTM 2×200, full softmax: ~5,000 tokens/s, validation perplexity 119 after 5 epochs',
  "Zaremba et al.'s small LSTM (2×200): test perplexity 114.5 after 13 epochs (state carried across sentences)",
];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const long = process.argv.includes('--long');
const steps = Number(option('steps') ?? 20);
const threads = Number(option('threads') ?? 2);
const maxTime = Number(option('max-time') ?? 900);
const only = option('models')?.split(',');
const noTorch = process.argv.includes('--no-torch');
const phasesMode = process.argv.includes('--phases');
/** Long mode: the context the models train in (both are reported on the test text). */
const context = option('context') ?? 'sentence';

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  return [line(header), `|${w.map((n, i) => (i === 0 ? ':' : '') + '-'.repeat(n + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Same float32 bits (NaN included). */
const sameBits = (a: Float32Array, b: Float32Array): boolean => {
  const x = new Int32Array(a.buffer, a.byteOffset, a.length), y = new Int32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

const k = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const r2 = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–');

async function build(b: Bench, train: Corpus, kernelThreads = threads): Promise<NeuralModel<unknown>> {
  const d = TRAINING_DEFAULTS[b.kind];
  const arch = { ...b.arch, ...(b.kind === 'transformer' ? { window: d.bptt } : {}), ...(long && b.kind !== 'loglinear' && b.kind !== 'ffnn' ? { context } : {}) };
  const config = resolveConfig(b.kind, arch, train.vocab.size);
  const counts = countIds(train.tokens, train.vocab.size);
  const model = await buildModel(config, train.vocab, orderFor(config, counts), { shape: { batch: d.batch, bptt: d.bptt }, threads: kernelThreads });
  await model.kernels.ready;
  model.initialize(new Random(1, 0), counts);
  return model;
}

/** One training step after another (forward, backward, update), as the CLI's defaults train. */
function trainingSteps(model: NeuralModel<unknown>, train: Corpus, kind: NeuralKind): () => { targets: number; nats: number } {
  const d = TRAINING_DEFAULTS[kind];
  const rng = new Random(2);
  const total = model.beginEpoch(train.tokens, new Random(3));
  let s = 0;
  return () => {
    const r = model.trainStep(s++ % total, rng);
    model.update(d.lr, d.clip, 0);
    return r;
  };
}

/** Training tokens/s over `steps` steps (after 3 untimed), best of 2 runs. */
function trainSpeed(model: NeuralModel<unknown>, train: Corpus, kind: NeuralKind): { tokensPerSecond: number; loss: number } {
  const step = trainingSteps(model, train, kind);
  let best = 0;
  let loss = NaN;
  for (let run = 0; run < 2; run++) {
    for (let w = 0; w < 3; w++) step();
    let tokens = 0;
    let nats = 0;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const r = step();
      tokens += r.targets;
      nats += r.nats;
    }
    const tps = tokens / ((performance.now() - t0) / 1000);
    if (tps > best) {
      best = tps;
      loss = nats / tokens;
    }
  }
  return { tokensPerSecond: best, loss };
}

/** Scoring tokens/s: batched (validation) and per sentence (kotoba ppl), on a slice of the text. */
function scoreSpeed(model: NeuralModel<unknown>, text: Uint32Array): { batched: number; sentences: number } {
  const slice = text.subarray(0, Math.min(text.length, 20000));
  let end = slice.length;
  while (end > 0 && slice[end - 1] !== 2) end--;
  const part = slice.subarray(0, end);
  let batched = 0;
  let sentences = 0;
  for (let run = 0; run < 2; run++) {
    let t0 = performance.now();
    const { targets } = model.evaluate(part);
    batched = Math.max(batched, targets / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    const acc = scoreTokens(model, part);
    sentences = Math.max(sentences, acc.tokens / ((performance.now() - t0) / 1000));
  }
  return { batched, sentences };
}

interface TorchResult {
  train_tokens_per_s?: number;
  score_tokens_per_s?: number;
  train_loss?: number;
  torch?: string;
  threads?: number;
  error?: string;
}

function torchArgs(b: Bench, train: Corpus): string[] {
  const d = TRAINING_DEFAULTS[b.kind];
  const c = resolveConfig(b.kind, b.arch, train.vocab.size);
  const args = ['--model', b.kind, '--train', join(ptbDir, 'ptb.train.txt'), '--batch', String(d.batch), '--lr', String(d.lr), '--clip', String(d.clip), '--steps', String(steps), '--threads', String(threads), '--classes', String(c.classes)];
  if (c.order) args.push('--order', String(c.order));
  if (c.hidden) args.push('--hidden', String(c.hidden));
  if (c.embed) args.push('--embed', String(c.embed));
  if (c.layers) args.push('--layers', String(c.layers));
  if (c.heads) args.push('--heads', String(c.heads));
  if (c.dropout) args.push('--dropout', String(c.dropout));
  if (c.activation) args.push('--activation', c.activation);
  if (b.kind === 'rnn' || b.kind === 'gru' || b.kind === 'lstm' || b.kind === 'transformer') args.push('--bptt', String(d.bptt));
  return args;
}

/**
 * bench/neural_torch.py on the same model, at PyTorch's best settings here (see the top of this
 * file): its JSON line, or the error it ended with.
 */
function torchScript<T extends { error?: string }>(b: Bench, train: Corpus, extra: string[] = []): T {
  if (noTorch) return { error: 'skipped (--no-torch)' } as T;
  const r = spawnSync(PYTHON, [join(repoRoot, 'bench', 'neural_torch.py'), ...torchArgs(b, train), ...extra], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_CORETYPE: 'SkylakeX', ATEN_CPU_CAPABILITY: 'avx512', OMP_NUM_THREADS: String(threads) },
    timeout: 20 * 60 * 1000,
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').pop()! } as T;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** PyTorch on the same model: the best of 2 runs, as for kotoba (the machine is shared). */
function runTorch(b: Bench, train: Corpus): TorchResult {
  let best: TorchResult | null = null;
  for (let run = 0; run < 2; run++) {
    const t = torchScript<TorchResult>(b, train);
    if (t.error) return t;
    if (!best) best = t;
    else {
      best.train_tokens_per_s = Math.max(best.train_tokens_per_s ?? 0, t.train_tokens_per_s ?? 0);
      best.score_tokens_per_s = Math.max(best.score_tokens_per_s ?? 0, t.score_tokens_per_s ?? 0);
    }
  }
  return best!;
}

/** GFLOP/s of the products that dominate the models (the best of a few timed calls), on 1 and --threads threads. */
async function kernelGflops(): Promise<string[][]> {
  const counts = [...new Set([1, threads])];
  const V = 10001, H = 200, R = 700;
  const results: number[][] = [];
  for (const t of counts) {
    const kk = await createKernels(3.2e7, { threads: t });
    await kk.ready;
    const X = kk.alloc(R * H), W = kk.alloc(V * H), L = kk.alloc(R * V), dW = kk.alloc(V * H), dX = kk.alloc(R * H);
    const U = kk.alloc(H * 4 * H), h = kk.alloc(20 * H), g = kk.alloc(20 * 4 * H);
    const rng = new Random(1);
    for (const a of [X, W, L, U, h]) rng.fillUniform(a, -0.5, 0.5);
    const calls: [number, () => void][] = [
      [2 * R * V * H, () => kk.gemm(false, true, R, V, H, 1, X, W, 0, L)],
      [2 * R * V * H, () => kk.gemm(true, false, V, H, R, 1, L, X, 1, dW)],
      [2 * R * V * H, () => kk.gemm(false, false, R, H, V, 1, L, W, 0, dX)],
      [2 * 20 * 4 * H * H, () => kk.gemm(false, false, 20, 4 * H, H, 1, h, U, 0, g)],
      [2 * 20 * H * H, () => kk.gemm(false, false, 20, H, H, 1, h, U, 0, X)],
    ];
    results.push(
      calls.map(([flops, f]) => {
        f();
        let best = Infinity;
        for (let run = 0; run < 3; run++) {
          let n = 0;
          const t0 = performance.now();
          do {
            f();
            n++;
          } while (performance.now() - t0 < 150);
          best = Math.min(best, (performance.now() - t0) / 1000 / n);
        }
        return flops / best / 1e9;
      }),
    );
    kk.close();
  }
  const what = ['output logits = X·Wᵀ (700×10001×200)', 'output dW += dLᵀ·X', 'output dX = dL·W', 'LSTM step h·Wh (20×800×200)', 'RNN step h·U (20×200×200)'];
  return what.map((w, i) => [w, ...results.map((r) => r[i]!.toFixed(1)), ...(counts.length > 1 ? [r2(results[1]![i]!, results[0]![i]!)] : [])]);
}

/** Time and (for gemm) floating-point operations of one kind of kernel call, summed. */
interface CallTotal {
  ms: number;
  calls: number;
  flops: number;
}

/**
 * --phases: times every kernel call of `steps` training steps (update included), grouped by
 * kernel and, for gemm, by shape (op(A) M×K · op(B) K×N, "NT": B transposed). Only the outermost
 * call is timed (a kernel that calls another counts once). Returns ms per step by group, and the
 * whole step's ms.
 */
function kernelPhases(model: NeuralModel<unknown>, train: Corpus, kind: NeuralKind): { groups: Map<string, CallTotal>; stepMs: number } {
  const kernels = model.kernels as unknown as Record<string, unknown>;
  const groups = new Map<string, CallTotal>();
  const names = new Set<string>();
  for (let o: object | null = kernels; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const n of Object.getOwnPropertyNames(o)) if (typeof kernels[n] === 'function' && !['constructor', 'alloc', 'allocInt32', 'close'].includes(n)) names.add(n);
  }
  let depth = 0;
  for (const n of names) {
    const f = (kernels[n] as (...a: unknown[]) => unknown).bind(kernels);
    kernels[n] = (...a: unknown[]) => {
      if (depth > 0) return f(...a);
      depth++;
      const t0 = performance.now();
      try {
        return f(...a);
      } finally {
        const ms = performance.now() - t0;
        depth--;
        let key = n;
        let flops = 0;
        if (n === 'gemm') {
          const [tA, tB, M, N, K] = a as [boolean, boolean, number, number, number];
          key = `gemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}×${N}×${K}`;
          flops = 2 * M * N * K;
        }
        const g = groups.get(key) ?? { ms: 0, calls: 0, flops: 0 };
        g.ms += ms;
        g.calls++;
        g.flops += flops;
        groups.set(key, g);
      }
    };
  }
  const step = trainingSteps(model, train, kind);
  for (let w = 0; w < 3; w++) step();
  groups.clear();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const stepMs = (performance.now() - t0) / steps;
  for (const g of groups.values()) {
    g.ms /= steps;
    g.calls /= steps;
    g.flops /= steps;
  }
  return { groups, stepMs };
}

/** PyTorch's profiler on the same training steps: self CPU time per operator and shapes. */
interface TorchProfile {
  step_us?: number;
  ops?: { op: string; shapes: string; self_us: number; calls: number }[];
  error?: string;
}

function torchProfile(b: Bench, train: Corpus): TorchProfile {
  return torchScript<TorchProfile>(b, train, ['--profile']);
}

/** --phases: one table per model, kotoba's kernel calls and PyTorch's operators, ms per step. */
async function phases(benches: Bench[], train: Corpus): Promise<void> {
  const ms = (x: number) => x.toFixed(2);
  for (const b of benches) {
    const model = await build(b, train);
    const { groups, stepMs } = kernelPhases(model, train, b.kind);
    model.kernels.close();
    const rows = [...groups].sort((x, y) => y[1].ms - x[1].ms);
    const inKernels = rows.reduce((a, [, g]) => a + g.ms, 0);
    console.log(`## ${b.name}: one training step (${TRAINING_DEFAULTS[b.kind].batch}×${TRAINING_DEFAULTS[b.kind].bptt} tokens), kotoba on ${threads} thread${threads > 1 ? 's' : ''}, mean of ${steps} steps`);
    console.log('');
    console.log(
      table(
        ['kernel call', 'calls / step', 'ms / step', 'share', 'GFLOP/s'],
        [
          ...rows.slice(0, 14).map(([key, g]) => [key, g.calls.toFixed(0), ms(g.ms), `${((100 * g.ms) / stepMs).toFixed(1)} %`, g.flops ? (g.flops / g.ms / 1e6).toFixed(1) : '']),
          ['other kernels', '', ms(rows.slice(14).reduce((a, [, g]) => a + g.ms, 0)), '', ''],
          ['JavaScript between the calls', '', ms(stepMs - inKernels), `${((100 * (stepMs - inKernels)) / stepMs).toFixed(1)} %`, ''],
          ['step', '', ms(stepMs), '100 %', ''],
        ],
      ),
    );
    console.log('');
    const t = torchProfile(b, train);
    if (t.error || !t.ops) {
      console.log(`PyTorch: ${t.error ?? 'no profile'}`);
      console.log('');
      continue;
    }
    console.log(`PyTorch ${threads} thread${threads > 1 ? 's' : ''}, torch.profiler (self CPU time; the profiler's own cost makes the step ${ms(t.step_us! / 1000)} ms where it is shorter unprofiled, see the speed table):`);
    console.log('');
    console.log(table(['operator', 'input shapes', 'calls / step', 'ms / step'], t.ops.slice(0, 14).map((o) => [o.op, o.shapes, o.calls.toFixed(0), ms(o.self_us / 1000)])));
    console.log('');
  }
}

/**
 * A trained model's perplexity on a text under the three protocols: each line on its own
 * (sentence), the text as one stream (kotoba's stream: the Transformer's window slides by half),
 * and PyTorch's example's evaluation: 10 streams, non-overlapping windows of 35 (or the
 * Transformer's own), the state carried.
 */
async function evaluateFile(path: string, text: string): Promise<void> {
  const probe = await loadNeuralModel(path);
  const T = probe.config.window ?? 35;
  const sequence = probe.config.kind !== 'loglinear' && probe.config.kind !== 'ffnn';
  const model = sequence ? await loadNeuralModel(path, { shape: { batch: 10, bptt: T } }) : probe;
  const tokens = (await readCorpus(text, { vocab: model.vocab })).tokens;
  const row = (name: string, ppl: number) => console.log(`| ${name} | ${ppl.toFixed(2)} |`);
  console.log(`${model.description}; ${text}`);
  console.log('');
  console.log('| protocol | perplexity |');
  console.log('|:--|--:|');
  row('sentence (each line from <s>)', scoreTokens(model, tokens, 'sentence').perplexity);
  if (sequence) {
    row('stream (one state through the text)', scoreTokens(model, tokens, 'stream').perplexity);
    const w = (model as unknown as StreamModel<never, unknown>).evaluateWindows(tokens);
    row(`PyTorch's example (10 streams, windows of ${T})`, Math.exp(w.nats / w.targets));
  }
}

async function main(): Promise<void> {
  const evalPath = option('eval');
  if (evalPath) return evaluateFile(evalPath, process.argv[process.argv.indexOf(evalPath) + 1] ?? join(ptbDir, 'ptb.test.txt'));
  if (!existsSync(join(ptbDir, 'ptb.train.txt'))) {
    console.log(`bench:neural: ${ptbDir} is absent; the benchmark needs Penn Treebank (../shared/data/ptb)`);
    return;
  }
  const train = await readCorpus(join(ptbDir, 'ptb.train.txt'));
  const valid = await readCorpus(join(ptbDir, 'ptb.valid.txt'), { vocab: train.vocab });
  const test = await readCorpus(join(ptbDir, 'ptb.test.txt'), { vocab: train.vocab });
  const benches = BENCHES.filter((b) => !only || only.includes(b.kind));
  console.log(`# kotoba neural benchmark — Penn Treebank: ${train.words.toLocaleString('en-US')} training words, vocabulary ${train.vocab.size}`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${loadavg()[0]!.toFixed(2)} at start; Node ${process.version}`);
  console.log('');

  if (phasesMode) await phases(benches, train);
  else if (!long) {
    const rows: string[][] = [];
    for (const b of benches) {
      const model = await build(b, train);
      const ours = trainSpeed(model, train, b.kind);
      const score = scoreSpeed(model, valid.tokens);
      // The same steps on one thread: the speed-up, and the same weights (results never depend on threads).
      let single = ours;
      if (model.kernels.threads > 1) {
        const one = await build(b, train, 1);
        single = trainSpeed(one, train, b.kind);
        if (!sameBits(one.params.values, model.params.values)) throw new Error(`${b.name}: the weights after training on 1 and ${threads} threads differ`);
        one.kernels.close();
      }
      model.kernels.close();
      const torch = runTorch(b, train);
      rows.push([
        `${b.name} (${model.kernels.backend})`,
        k(single.tokensPerSecond),
        k(ours.tokensPerSecond),
        r2(ours.tokensPerSecond, single.tokensPerSecond),
        k(torch.train_tokens_per_s ?? NaN),
        r2(ours.tokensPerSecond, torch.train_tokens_per_s ?? NaN),
        k(score.batched),
        k(score.sentences),
        k(torch.score_tokens_per_s ?? NaN),
        r2(score.batched, torch.score_tokens_per_s ?? NaN),
      ]);
      if (torch.error) console.log(`PyTorch ${b.kind}: ${torch.error}`);
      console.error(`${b.kind}: done`);
    }
    const T = `${threads}T`;
    console.log(`## Training and scoring speed (tokens/s; kotoba and PyTorch on ${threads} thread${threads > 1 ? 's' : ''} (${T}), kotoba also on 1 (1T); ${steps} steps after 3 warm-up, best of 2)`);
    console.log('');
    console.log(table(['model', 'kotoba train 1T', `kotoba train ${T}`, `${T} / 1T`, `PyTorch train ${T}`, 'ratio', `kotoba score ${T} (batched)`, `kotoba score ${T} (per sentence)`, `PyTorch score ${T}`, 'ratio'], rows));
    console.log('');
    console.log('## Kernel GFLOP/s (float32, the shapes the models spend their time in)');
    console.log('');
    console.log(table(['product', 'GFLOP/s 1T', ...(threads > 1 ? [`GFLOP/s ${T}`, `${T} / 1T`] : [])], await kernelGflops()));
  } else {
    const rows: string[][] = [];
    for (const b of benches) {
      const model = await build(b, train);
      const d = TRAINING_DEFAULTS[b.kind];
      const t0 = performance.now();
      const t = new Trainer(model, train.tokens, valid.tokens, { epochs: 1000, lr: d.lr, clip: d.clip, lrDecay: d.lrDecay, l2: d.l2, seed: 1, maxTime }, {
        epoch: (r) => console.error(`${b.kind} epoch ${r.epoch}${r.partial ? ' (partial)' : ''}: train ppl ${r.trainPerplexity.toFixed(1)}, valid ppl ${r.validPerplexity?.toFixed(2)}, lr ${r.lr.toPrecision(3)}, ${k(r.tokensPerSecond)} tokens/s`),
      });
      const result = await t.run();
      const seconds = (performance.now() - t0) / 1000;
      const sequence = b.kind !== 'loglinear' && b.kind !== 'ffnn';
      const testSentence = scoreTokens(model, test.tokens, 'sentence').perplexity;
      const testStream = sequence ? scoreTokens(model, test.tokens, 'stream').perplexity : NaN;
      const epochs = result.state.history.filter((r) => !r.partial).length;
      const tps = result.state.history.reduce((a, r) => a + r.tokensPerSecond * r.seconds, 0) / Math.max(1e-9, result.state.history.reduce((a, r) => a + r.seconds, 0));
      rows.push([b.name, result.validPerplexity?.toFixed(2) ?? '–', testSentence.toFixed(2), Number.isFinite(testStream) ? testStream.toFixed(2) : '–', String(epochs), result.reason, k(tps), `${(seconds / 60).toFixed(1)} min`]);
      console.error(`${b.kind}: valid ${result.validPerplexity?.toFixed(2)}, test ${testSentence.toFixed(2)} (sentence), ${testStream.toFixed(2)} (stream)`);
    }
    console.log(`## Long runs (--max-time ${maxTime} s each, CLI defaults, trained in ${context} context, seed 1; </s> counted)`);
    console.log('');
    console.log(table(['model', `valid ppl (${context})`, 'test ppl (sentence)', 'test ppl (stream)', 'epochs', 'stopped', 'train tokens/s', 'wall time'], rows));
  }
  console.log('');
  console.log('Reference points (from the issue, measured on these machines):');
  for (const r of REFERENCES) console.log(`- ${r}`);
}

await main();
