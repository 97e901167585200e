// Finite-difference gradient checks for every layer and every model: the analytic gradients of
// the explicit backward passes must match central differences of the loss. Float32 kernels (the
// plain TypeScript backend, which sums in float64), so: step 1e-2 along random directions per
// tensor, and per-element checks on each tensor's largest gradients, with relative tolerances.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpusFromText } from '../src/text/corpus.js';
import { buildModelJs, countIds, orderFor, resolveConfig, type ArchitectureOptions } from '../src/neural/build.js';
import type { NeuralKind, NeuralModel } from '../src/neural/model.js';
import { Random } from '../src/util/random.js';
import { createJsKernels } from '../src/neural/kernels/index.js';
import * as L from '../src/neural/layers.js';

/** A tiny corpus with structure a model can pick up. */
function tinyCorpus(sentences = 12, seed = 3) {
  const rng = new Random(seed);
  const words = ['the', 'cat', 'dog', 'sat', 'ran', 'on', 'a', 'mat', 'log', 'and', 'then', 'slept'];
  const lines: string[] = [];
  for (let s = 0; s < sentences; s++) {
    const n = 1 + rng.int(4);
    const line: string[] = [];
    for (let i = 0; i < n; i++) line.push(words[rng.int(words.length)]!);
    lines.push(line.join(' '));
  }
  return corpusFromText(lines);
}

interface Check {
  name: string;
  analytic: number;
  numeric: number;
  /** The one-sided differences, forward and backward (where a ReLU kink may lie between them). */
  sides?: [number, number];
}

/** Relative error with a floor, so tiny gradients are compared absolutely. */
function relErr(a: number, b: number, floor: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor);
}

/**
 * Checks the gradient of f at the model's current parameters: along one random direction per
 * tensor and on the 3 largest-gradient entries of each tensor.
 */
function checkModelGradient(model: NeuralModel<unknown>, f: () => number, eps = 1e-2): Check[] {
  const ps = model.params;
  ps.zeroGrads();
  const f0 = f(); // and fills the gradients
  const grads = ps.grads.slice();
  const values = ps.values;
  const checks: Check[] = [];
  const rng = new Random(11);
  for (const t of ps.tensors()) {
    // Direction check: d random ±1 over the tensor.
    const d = new Float32Array(t.size);
    let analytic = 0;
    for (let i = 0; i < t.size; i++) {
      d[i] = rng.uniform() < 0.5 ? -1 : 1;
      analytic += d[i]! * grads[t.offset + i]!;
    }
    const saved = values.slice(t.offset, t.offset + t.size);
    const h = eps / Math.sqrt(t.size);
    for (let i = 0; i < t.size; i++) values[t.offset + i] = saved[i]! + h * d[i]!;
    ps.zeroGrads();
    const fp = f();
    for (let i = 0; i < t.size; i++) values[t.offset + i] = saved[i]! - h * d[i]!;
    ps.zeroGrads();
    const fm = f();
    values.set(saved, t.offset);
    checks.push({ name: `${t.name} (direction)`, analytic: analytic * h, numeric: (fp - fm) / 2, sides: [fp - f0, f0 - fm] });
    // Element checks: every entry of a small tensor; else the 5 largest gradients and 150 at random.
    let idx: number[];
    if (t.size <= 400) idx = Array.from({ length: t.size }, (_, i) => i);
    else {
      idx = Array.from({ length: t.size }, (_, i) => i).sort((a, b) => Math.abs(grads[t.offset + b]!) - Math.abs(grads[t.offset + a]!)).slice(0, 5);
      for (let j = 0; j < 150; j++) idx.push(rng.int(t.size));
    }
    for (const i of idx) {
      const g = grads[t.offset + i]!;
      const v = values[t.offset + i]!;
      values[t.offset + i] = v + eps;
      ps.zeroGrads();
      const a = f();
      values[t.offset + i] = v - eps;
      ps.zeroGrads();
      const b = f();
      values[t.offset + i] = v;
      checks.push({ name: `${t.name}[${i}]`, analytic: g, numeric: (a - b) / (2 * eps), sides: [(a - f0) / eps, (f0 - b) / eps] });
    }
  }
  ps.zeroGrads();
  return checks;
}

/**
 * Every check within `tol`. With `kinks` (ReLU models), a step that crosses a kink makes the
 * central difference the average of two slopes; a gradient there (any subgradient) lies between
 * the one-sided differences, which is what is checked when the central one disagrees.
 */
function assertChecks(checks: Check[], tol: number, floor: number, kinks = false): void {
  const ok = (c: Check): boolean => {
    if (relErr(c.analytic, c.numeric, floor) <= tol) return true;
    if (!kinks || !c.sides) return false;
    const [fwd, bwd] = c.sides;
    const margin = tol * Math.max(Math.abs(fwd), Math.abs(bwd), floor);
    return Math.abs(fwd - bwd) > margin && c.analytic >= Math.min(fwd, bwd) - margin && c.analytic <= Math.max(fwd, bwd) + margin;
  };
  const bad = checks.filter((c) => !ok(c));
  assert.ok(checks.length > 0);
  assert.deepEqual(
    bad.map((c) => `${c.name}: analytic ${c.analytic.toExponential(4)} numeric ${c.numeric.toExponential(4)}`),
    [],
  );
}

/** Central differences of `forward` for about `per` entries of each parameter array (all of them with Infinity). */
function elementChecks(params: Float32Array[], analytic: Float32Array[], forward: () => number, eps: number, per: number): Check[] {
  const checks: Check[] = [];
  params.forEach((p, pi) => {
    for (let i = 0; i < p.length; i += Math.max(1, Math.floor(p.length / per))) {
      const v = p[i]!;
      p[i] = v + eps;
      const fp = forward();
      p[i] = v - eps;
      const fm = forward();
      p[i] = v;
      checks.push({ name: `param ${pi}[${i}]`, analytic: analytic[pi]![i]!, numeric: (fp - fm) / (2 * eps) });
    }
  });
  return checks;
}

const CASES: [NeuralKind, ArchitectureOptions, { batch: number; bptt: number }][] = [
  ['loglinear', { order: 3 }, { batch: 8, bptt: 1 }],
  ['loglinear', { order: 2, hashSize: 60 }, { batch: 8, bptt: 1 }],
  ['ffnn', { order: 3, embed: 5, hidden: 7, classes: 0 }, { batch: 8, bptt: 1 }],
  ['ffnn', { order: 4, embed: 4, hidden: 6, classes: 4, direct: true }, { batch: 8, bptt: 1 }],
  ['rnn', { hidden: 6, classes: 0 }, { batch: 3, bptt: 8 }],
  ['rnn', { hidden: 6, classes: 4 }, { batch: 3, bptt: 8 }],
  ['lstm', { hidden: 5, embed: 4, layers: 2, classes: 0 }, { batch: 3, bptt: 8 }],
  ['lstm', { hidden: 5, embed: 5, layers: 1, classes: 3, tied: true }, { batch: 2, bptt: 8 }],
  ['lstm', { hidden: 4, embed: 3, layers: 2, dropout: 0.3, classes: 0 }, { batch: 3, bptt: 8 }],
  ['rnn', { hidden: 5, embed: 4, layers: 2, dropout: 0.3, classes: 0, activation: 'relu' }, { batch: 3, bptt: 8 }],
  ['rnn', { hidden: 5, embed: 5, layers: 1, classes: 3, tied: true }, { batch: 2, bptt: 8 }],
  ['gru', { hidden: 5, embed: 4, layers: 2, classes: 0 }, { batch: 3, bptt: 8 }],
  ['gru', { hidden: 5, embed: 5, layers: 1, classes: 3, tied: true }, { batch: 2, bptt: 8 }],
  ['gru', { hidden: 4, embed: 3, layers: 2, dropout: 0.3, classes: 0 }, { batch: 3, bptt: 8 }],
  ['lstm', { hidden: 4, embed: 3, layers: 2, classes: 0, context: 'stream' }, { batch: 2, bptt: 8 }],
  ['transformer', { embed: 4, hidden: 6, layers: 2, heads: 2, window: 8, dropout: 0, classes: 0 }, { batch: 3, bptt: 8 }],
  ['transformer', { embed: 4, hidden: 6, layers: 2, heads: 2, window: 8, dropout: 0.2, classes: 0, activation: 'gelu' }, { batch: 3, bptt: 8 }],
  ['transformer', { embed: 4, hidden: 5, layers: 2, heads: 1, window: 8, dropout: 0, norm: 'pre', activation: 'gelu', positions: 'learned', tied: true, classes: 3 }, { batch: 2, bptt: 8 }],
  ['transformer', { embed: 6, hidden: 4, layers: 1, heads: 3, window: 7, dropout: 0.3, classes: 0, context: 'stream' }, { batch: 2, bptt: 7 }],
  ['transformer', { embed: 4, hidden: 4, layers: 2, heads: 2, window: 8, dropout: 0.25, norm: 'pre', classes: 0 }, { batch: 2, bptt: 8 }],
];

for (const [kind, arch, shape] of CASES) {
  test(`gradient check: ${kind} ${JSON.stringify(arch)}`, () => {
    const corpus = tinyCorpus();
    const config = resolveConfig(kind, arch, corpus.vocab.size);
    const order = orderFor(config, countIds(corpus.tokens, corpus.vocab.size));
    const model = buildModelJs(config, corpus.vocab, order, shape);
    // Larger weights than a real initialisation, so that every path (forget gates, cell
    // states, biases) carries enough gradient for an error in it to show.
    new Random(6).fillUniform(model.params.values, -0.6, 0.6);
    // One training step's mean loss, from a fresh epoch layout and fixed dropout masks.
    const f = () => {
      model.beginEpoch(corpus.tokens, null);
      const { nats, targets } = model.trainStep(0, new Random(9));
      return nats / targets;
    };
    if ((kind === 'rnn' || kind === 'gru' || kind === 'lstm' || kind === 'transformer') && arch.context !== 'stream') {
      // The step must cross a sentence boundary, or the state reset would go untested.
      const ws = (model as unknown as { trainWs: { reset: Uint8Array; B: number } }).trainWs;
      model.beginEpoch(corpus.tokens, null);
      model.trainStep(0, new Random(9));
      assert.ok(ws.reset.subarray(ws.B).some((r) => r === 1), 'no <s> after the first step of the chunk');
    }
    // ReLU has kinks: a step of 1e-2 crosses some of them, 1e-3 (still far above float32 noise) does not.
    // A ReLU Transformer has hundreds of kinks, which a step of 1e-2 crosses; at 1e-3 float32
    // rounding of the activations shows (about 2e-5 on a gradient), hence its wider floor. The
    // same architectures with GELU (smooth) pass the strict check, so this one checks the wiring.
    const relu = arch.activation === 'relu' || (kind === 'transformer' && arch.activation !== 'gelu');
    const reluTransformer = relu && kind === 'transformer';
    assertChecks(checkModelGradient(model, f, relu ? 1e-3 : 1e-2), reluTransformer ? 3e-2 : 1e-2, reluTransformer ? 3e-3 : 1e-3, relu);
  });
}

test('gradient check: layers (embedding, linear, tanh, RNN cell, LSTM cell, sigmoid, dropout, softmax cross-entropy)', () => {
  const k = createJsKernels(1 << 16);
  const rng = new Random(1);
  const B = 3, D = 4, H = 5, V = 6;
  // One scalar loss through every layer: embedding → linear → tanh → rnn cell → lstm cell →
  // sigmoid → dropout → linear → softmax CE.
  const table = k.alloc(7 * D), ids = k.allocInt32(B), x = k.alloc(B * D), W1 = k.alloc(D * H), b1 = k.alloc(H);
  ids.set([2, 5, 2]); // a repeated id: its gradient rows must accumulate
  const h0 = k.alloc(B * H), U = k.alloc(H * H), bu = k.alloc(H);
  const Wh = k.alloc(H * 4 * H), Wx = k.alloc(H * 4 * H), bl = k.alloc(4 * H), cin = k.alloc(B * H);
  const W2 = k.alloc(H * V), b2 = k.alloc(V);
  const params = [table, W1, b1, h0, U, bu, Wh, Wx, bl, cin, W2, b2];
  for (const p of params) rng.fillUniform(p, -0.8, 0.8);
  const targets = k.allocInt32(B);
  targets.set([1, 4, -1]);
  const z1 = k.alloc(B * H), z2 = k.alloc(B * H), a = k.alloc(B * 4 * H), c = k.alloc(B * H), tc = k.alloc(B * H);
  const hl = k.alloc(B * H), s = k.alloc(B * H), sd = k.alloc(B * H), mask = k.alloc(B * H), logits = k.alloc(B * V), losses = k.alloc(B);
  L.dropoutMask(new Random(4), mask, B * H, 0.3);
  const rows = L.gateRows(a, B, H);
  const dz1 = k.alloc(B * H), dz2 = k.alloc(B * H), dpre = k.alloc(B * H), dhl = k.alloc(B * H), ds = k.alloc(B * H);
  const da = k.alloc(B * 4 * H), dcl = k.alloc(B * H), dh0 = k.alloc(B * H), dx = k.alloc(B * D), dt = k.alloc(B * H), dsd = k.alloc(B * H), gtable = k.alloc(7 * D);
  const gW1 = k.alloc(D * H), gb1 = k.alloc(H), gU = k.alloc(H * H), gbu = k.alloc(H), gWh = k.alloc(H * 4 * H), gWx = k.alloc(H * 4 * H), gbl = k.alloc(4 * H), gW2 = k.alloc(H * V), gb2 = k.alloc(V);
  const forward = (): number => {
    L.embeddingForward(k, x, table, ids, B, D);
    L.linearForward(k, z1, x, W1, b1, B, D, H);
    L.tanhForward(k, z1, z1, B * H); // z1 = tanh(x·W1 + b1)
    z2.set(z1);
    k.addBias(B, H, z2, bu);
    L.rnnCellForward(k, z2, h0, U, B, H); // z2 = tanh(z1 + bu + h0·U)
    L.linearForward(k, a, z2, Wx, bl, B, H, 4 * H); // a = z2·Wx + bl (the caller's half)
    L.lstmCellForward(k, hl, c, tc, a, rows, z2, cin, Wh, B, H); // hin = z2
    L.sigmoidForward(k, s, hl, B * H);
    L.dropoutForward(k, sd, s, mask, B * H);
    L.linearForward(k, logits, sd, W2, b2, B, H, V);
    return L.softmaxCrossEntropyForward(k, losses, logits, targets, B, V, logits, 1);
  };
  const backward = (): void => {
    for (const g of [gW1, gb1, gU, gbu, gWh, gWx, gbl, gW2, gb2, dx, dh0, ds, dsd, dhl, dz1, dz2, gtable]) g.fill(0);
    // logits now hold dlogits.
    L.linearBackward(k, dsd, gW2, gb2, logits, sd, W2, B, H, V);
    L.dropoutBackward(k, ds, dsd, mask, B * H);
    L.sigmoidBackward(k, dhl, ds, s, B * H);
    dcl.fill(0);
    // dhin of the LSTM cell is dz2 (hin = z2), and its input half is z2 too.
    L.lstmCellBackward(k, dz2, da, dhl, dcl, a, tc, cin, Wh, B, H);
    k.gemm(true, false, H, 4 * H, B, 1, z2, da, 1, gWh); // dWh += hinᵀ · da (hin = z2)
    L.linearBackward(k, dz2, gWx, gbl, da, z2, Wx, B, H, 4 * H);
    L.rnnCellBackward(k, dh0, dpre, dz2, z2, U, B, H);
    L.rnnWeightsBackward(k, gU, gbu, dpre, h0, B, H);
    dz1.set(dpre); // the RNN cell's input contribution (xr = z1)
    dt.fill(0);
    L.tanhBackward(k, dt, dz1, z1, B * H);
    L.linearBackward(k, dx, gW1, gb1, dt, x, W1, B, D, H);
    L.embeddingBackward(k, gtable, ids, dx, B, D);
  };
  const loss = forward();
  assert.ok(Number.isFinite(loss));
  backward();
  const analytic = [gtable, gW1, gb1, dh0, gU, gbu, gWh, gWx, gbl, dcl, gW2, gb2].map((g) => g.slice());
  assert.ok(mask.some((m) => m === 0) && mask.some((m) => m > 1), 'the dropout mask drops some units and scales the rest');
  const eps = 1e-2;
  assertChecks(elementChecks(params, analytic, forward, eps, 7), 2e-2, 1e-3);
});

test('gradient check: GRU cell and ReLU Elman cell (two steps, the second fed by the first)', () => {
  const k = createJsKernels(1 << 16);
  const rng = new Random(2);
  const B = 3, H = 4, V = 5;
  const G = 3 * H;
  // Loss: h1 = gru(x-half a1, h0); h2 = gru(a2, h1); r = relu-cell(h2 + …, h1); softmax CE over r·W.
  const a1in = k.alloc(B * G), a2in = k.alloc(B * G), h0 = k.alloc(B * H), Wh = k.alloc(H * G), bh = k.alloc(G);
  const U = k.alloc(H * H), xr = k.alloc(B * H), W = k.alloc(H * V);
  const params = [a1in, a2in, h0, Wh, bh, U, xr, W];
  for (const p of params) rng.fillUniform(p, -0.9, 0.9);
  const targets = k.allocInt32(B);
  targets.set([0, 3, 4]);
  const a1 = k.alloc(B * G), a2 = k.alloc(B * G), g1 = k.alloc(B * G), g2 = k.alloc(B * G);
  const h1 = k.alloc(B * H), h2 = k.alloc(B * H), r = k.alloc(B * H), logits = k.alloc(B * V), losses = k.alloc(B);
  const rows1 = L.gateRows(a1, B, H, 3), rows2 = L.gateRows(a2, B, H, 3);
  const forward = (): number => {
    a1.set(a1in);
    a2.set(a2in);
    L.gruCellForward(k, h1, a1, rows1, g1, h0, Wh, bh, B, H);
    L.gruCellForward(k, h2, a2, rows2, g2, h1, Wh, bh, B, H);
    r.set(xr);
    k.axpy(B * H, 1, h2, r); // r = relu(xr + h2 + h1·U)
    L.rnnCellForward(k, r, h1, U, B, H, 'relu');
    L.linearForward(k, logits, r, W, null, B, H, V);
    return L.softmaxCrossEntropyForward(k, losses, logits, targets, B, V, logits, 1);
  };
  const g = { a1in: k.alloc(B * G), a2in: k.alloc(B * G), h0: k.alloc(B * H), Wh: k.alloc(H * G), bh: k.alloc(G), U: k.alloc(H * H), xr: k.alloc(B * H), W: k.alloc(H * V) };
  const dr = k.alloc(B * H), dpre = k.alloc(B * H), dh1 = k.alloc(B * H), dh2 = k.alloc(B * H), dga = k.alloc(B * G), dgg = k.alloc(B * G);
  const loss = forward();
  assert.ok(Number.isFinite(loss));
  // Backward, in reverse.
  dr.fill(0);
  L.linearBackward(k, dr, g.W, null, logits, r, W, B, H, V);
  dh1.fill(0);
  L.rnnCellBackward(k, dh1, dpre, dr, r, U, B, H, 'relu');
  L.rnnWeightsBackward(k, g.U, k.alloc(H), dpre, h1, B, H); // (this cell has no bias)
  g.xr.set(dpre);
  dh2.set(dpre); // r = relu(xr + h2 + …): h2's gradient is dpre too
  L.gruCellBackward(k, dh1, dga, dgg, dh2, a2, g2, h1, Wh, B, H);
  g.a2in.set(dga);
  k.gemm(true, false, H, G, B, 1, h1, dgg, 1, g.Wh);
  k.sumRows(B, G, dgg, g.bh);
  L.gruCellBackward(k, g.h0, dga, dgg, dh1, a1, g1, h0, Wh, B, H);
  g.a1in.set(dga);
  k.gemm(true, false, H, G, B, 1, h0, dgg, 1, g.Wh);
  k.sumRows(B, G, dgg, g.bh);
  const analytic = [g.a1in, g.a2in, g.h0, g.Wh, g.bh, g.U, g.xr, g.W].map((x) => x.slice());
  const eps = 1e-2;
  assertChecks(elementChecks(params, analytic, forward, eps, Infinity), 2e-2, 1e-3);
});

test('gradient check: Transformer layers (LayerNorm, GELU, causal attention with sentence starts and dropout)', () => {
  const k = createJsKernels(1 << 16);
  const rng = new Random(3);
  const B = 2, T = 5, D = 6, heads = 2, F = 4, V = 5;
  const R = T * B;
  // Loss: x → LN → Q, K, V → attention (stream 1 has a sentence start at step 2) → dropout on P
  // → O → GELU(O·W1) → ·W2 → softmax CE.
  const x = k.alloc(R * D), g = k.alloc(D), be = k.alloc(D), Wq = k.alloc(D * D), Wk = k.alloc(D * D), Wv = k.alloc(D * D);
  const W1 = k.alloc(D * F), W2 = k.alloc(F * V);
  const params = [x, g, be, Wq, Wk, Wv, W1, W2];
  for (const p of params) rng.fillUniform(p, -0.9, 0.9);
  const lo = new Int32Array(R);
  for (let t = 0; t < T; t++) lo[t * B + 1] = t >= 2 ? 2 : 0;
  const targets = k.allocInt32(R);
  for (let r = 0; r < R; r++) targets[r] = r % V;
  const y = k.alloc(R * D), mean = k.alloc(R), rstd = k.alloc(R), Q = k.alloc(R * D), K = k.alloc(R * D), Vv = k.alloc(R * D);
  const P = k.alloc(B * heads * T * T), Pd = k.alloc(B * heads * T * T), maskP = k.alloc(B * heads * T * T), O = k.alloc(R * D);
  const h = k.alloc(R * F), a = k.alloc(R * F), logits = k.alloc(R * V), losses = k.alloc(R);
  L.dropoutMask(new Random(8), maskP, maskP.length, 0.2);
  const forward = (): number => {
    L.layerNormForward(y, mean, rstd, x, g, be, R, D);
    L.linearForward(k, Q, y, Wq, null, R, D, D);
    L.linearForward(k, K, y, Wk, null, R, D, D);
    L.linearForward(k, Vv, y, Wv, null, R, D, D);
    L.attentionProbs(k, P, Q, K, lo, B, T, D, heads, 0, T);
    k.mul(P.length, P, maskP, Pd);
    L.attentionValues(k, O, Pd, Vv, B, T, D, heads, 0, T);
    L.linearForward(k, h, O, W1, null, R, D, F);
    L.geluForward(a, h, R * F);
    L.linearForward(k, logits, a, W2, null, R, F, V);
    return L.softmaxCrossEntropyForward(k, losses, logits, targets, R, V, logits, 1);
  };
  const gx = k.alloc(R * D), gg = k.alloc(D), gbe = k.alloc(D), gWq = k.alloc(D * D), gWk = k.alloc(D * D), gWv = k.alloc(D * D), gW1 = k.alloc(D * F), gW2 = k.alloc(F * V);
  const da = k.alloc(R * F), dh = k.alloc(R * F), dO = k.alloc(R * D), dP = k.alloc(P.length), dQ = k.alloc(R * D), dK = k.alloc(R * D), dV = k.alloc(R * D), dy = k.alloc(R * D);
  const loss = forward();
  assert.ok(Number.isFinite(loss));
  L.linearBackward(k, da, gW2, null, logits, a, W2, R, F, V);
  L.geluBackward(dh, da, h, R * F);
  L.linearBackward(k, dO, gW1, null, dh, O, W1, R, D, F);
  L.attentionValuesBackward(k, dP, dV, dO, Pd, Vv, B, T, D, heads);
  k.mul(dP.length, dP, maskP, dP);
  L.attentionProbsBackward(k, dQ, dK, dP, P, Q, K, lo, B, T, D, heads);
  L.linearBackward(k, dy, gWq, null, dQ, y, Wq, R, D, D);
  L.linearBackward(k, dy, gWk, null, dK, y, Wk, R, D, D);
  L.linearBackward(k, dy, gWv, null, dV, y, Wv, R, D, D);
  L.layerNormBackward(gx, gg, gbe, dy, x, g, mean, rstd, R, D);
  // Each row's probabilities sum to 1 over exactly the steps it may see.
  for (let b = 0; b < B; b++) for (let hh = 0; hh < heads; hh++) for (let t = 0; t < T; t++) {
    const row = P.subarray(((b * heads + hh) * T + t) * T, ((b * heads + hh) * T + t + 1) * T);
    const l = lo[t * B + b]!;
    assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-6);
    row.forEach((v, j) => assert.ok((j >= l && j <= t) === v > 0, `stream ${b} step ${t} sees step ${j}: ${v}`));
  }
  const analytic = [gx, gg, gbe, gWq, gWk, gWv, gW1, gW2].map((z) => z.slice());
  const eps = 1e-2;
  assertChecks(elementChecks(params, analytic, forward, eps, 25), 1e-2, 1e-3);
});
