// Training that goes wrong, and training in instalments: a diverging run (`--lr 1e30`) stops with
// one line that says what to do, writes no model and keeps only checkpoints from before the
// divergence; `--max-time` is the budget of the run it is given to, so the README's
// `--resume --max-time 60` trains for about 60 more seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KotobaError } from '../src/errors.js';
import { createJsKernels } from '../src/neural/kernels/index.js';
import { readNeuralFile } from '../src/neural/model-file.js';
import { ParamSet } from '../src/neural/params.js';
import { decodeSafetensors } from '../src/neural/safetensors.js';
import { Trainer, type Checkpoint } from '../src/neural/trainer.js';
import { Vocabulary } from '../src/text/vocabulary.js';
import { repoRoot, runCli, tempDir } from './helpers.js';

const TRAIN = join(repoRoot, 'corpus', 'wiki.valid.txt'); // 26k words
const VALID = join(repoRoot, 'corpus', 'wiki.test.txt');
const { dir: tmp, cleanup } = tempDir();
test.after(cleanup);

/** The smallest model of each family. */
const TINY: Record<string, string[]> = {
  loglinear: ['--order', '2', '--hash-size', '50000'],
  ffnn: ['--order', '2', '--embed', '4', '--hidden', '8'],
  rnn: ['--hidden', '8'],
  lstm: ['--hidden', '8', '--layers', '1', '--classes', '20'],
};

/** Every weight of a safetensors file finite and of a sane size. */
function saneWeights(path: string): boolean {
  const file = decodeSafetensors(readFileSync(path), path);
  for (const [name, t] of file.tensors) {
    if (t.dtype !== 'F32' || name.startsWith('vocab.')) continue;
    for (const x of t.data as Float32Array) if (!(Math.abs(x) < 1e4)) return false;
  }
  return true;
}

for (const [kind, arch] of Object.entries(TINY)) {
  test(`${kind}: --lr 1e30 stops non-zero with one line saying to lower --lr, and writes no model and no checkpoint`, async () => {
    const out = join(tmp, `diverge-${kind}.safetensors`);
    const r = await runCli(['train', '--model', kind, ...arch, '--lr', '1e30', '--max-steps', '30', '--batch', '8', '--checkpoint-every', '0', '--valid', VALID, '--json', '-o', out, TRAIN]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^kotoba: training diverged (at epoch 1, step \d+|after global step \d+).*: the (loss|weights give a loss|gradient norm) .*; no model written \(train again with a lower --lr than 1e\+30, e\.g\. --lr 1e\+29[^)]*\)\n$/);
    assert.ok(!existsSync(out), 'no model from diverged weights');
    assert.ok(!existsSync(join(tmp, `diverge-${kind}.ckpt.safetensors`)), 'no checkpoint from diverged weights');
  });
}

test('a run that diverges after a good checkpoint keeps that checkpoint and the model as they were, and names it', async () => {
  const out = join(tmp, 'good.safetensors');
  const ckpt = join(tmp, 'good.ckpt.safetensors');
  const first = await runCli(['train', '--model', 'lstm', ...TINY.lstm!, '--max-steps', '3', '--batch', '8', '--valid', VALID, '--json', '-o', out, TRAIN]);
  assert.equal(first.code, 0, first.stderr);
  const model = readFileSync(out);
  const checkpoint = readFileSync(ckpt);
  assert.ok(saneWeights(ckpt));
  // Checkpoints are due after every step: each is checked before it is written.
  const r = await runCli(['train', '--model', 'lstm', '--resume', '--lr', '1e30', '--max-steps', '30', '--checkpoint-every', '0', '--quiet', '-o', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kotoba: training diverged .*; no model written; the last good checkpoint is .*good\.ckpt\.safetensors \(continue with --resume and a lower --lr than 1e\+30, e\.g\. --lr 1e\+29\)\n$/);
  assert.ok(readFileSync(ckpt).equals(checkpoint), 'the checkpoint from before the divergence is kept as it was');
  assert.ok(readFileSync(out).equals(model), 'the model file is not replaced by diverged weights');
});

/** A stand-in model: one weight, scripted losses, no kernels work. */
function fakeModel(script: { loss?: (step: number) => number; valid?: () => number; update?: (w: Float32Array, step: number) => void }) {
  const kernels = createJsKernels(64);
  const params = new ParamSet();
  params.declare('w', [1]);
  params.allocate(kernels);
  let step = 0;
  return {
    params,
    kernels,
    vocab: Vocabulary.fromWords(['a', 'b', 'c', 'd', 'e', 'f', 'g']), // V = 10: ln V = 2.3 nats
    beginEpoch: () => 100,
    trainStep: () => ({ nats: 100 * (script.loss?.(step) ?? 2), targets: 100 }),
    update: () => {
      script.update?.(params.values, step);
      step++;
      return 1;
    },
    evaluate: (tokens: Uint32Array) => (tokens.length === 3 ? { nats: script.valid?.() ?? 2, targets: 1 } : { nats: 2 * tokens.length, targets: tokens.length }),
    carried: () => null,
  };
}

const TOKENS = new Uint32Array([1, 3, 4, 5, 2, 1, 6, 7, 2]); // two sentences: the probe
const VALID_TOKENS = new Uint32Array([1, 3, 2]);

test('a finite loss that climbs far above its start is divergence; a noisy but healthy one is not', async () => {
  // Healthy: the loss wanders between 1.5 and 3.5 nats (start 2): no error.
  const healthy = fakeModel({ loss: (s) => 2 + 1.5 * Math.sin(s) });
  await new Trainer(healthy, TOKENS, null, { epochs: 2, lr: 1, seed: 1 }).run();
  // Climbing by 0.1 nats per step: stops once the average passes 2 + ln 10.
  const climbing = fakeModel({ loss: (s) => 2 + 0.1 * s });
  await assert.rejects(new Trainer(climbing, TOKENS, null, { epochs: 2, lr: 1, seed: 1 }).run(), (e: unknown) => {
    assert.ok(e instanceof KotobaError);
    assert.match(e.message, /^training diverged at epoch 1, step \d+ .*: the loss rose from 2\.00 to 4\.3\d nats per token; no model written \(train again with a lower --lr than 1, e\.g\. --lr 0\.1, or with --clip 1\)$/);
    return true;
  });
});

test('non-finite validation is divergence, not a best epoch', async () => {
  const model = fakeModel({ valid: () => Infinity });
  await assert.rejects(new Trainer(model, TOKENS, VALID_TOKENS, { epochs: 3, lr: 1, seed: 1 }).run(), (e: unknown) => {
    assert.ok(e instanceof KotobaError);
    assert.match(e.message, /training diverged at epoch 1, .*: the validation perplexity is Infinity/);
    return true;
  });
});

test('weights blown up by the last step before a checkpoint are caught before the checkpoint is written', async () => {
  // The loss the loop sees is fine; the update of step 5 makes the weights infinite, then the
  // step limit cuts the run and a checkpoint is due.
  const model = fakeModel({ update: (w, s) => void (s === 4 && (w[0] = Infinity)) });
  const written: Checkpoint['state'][] = [];
  await assert.rejects(
    new Trainer(model, TOKENS, null, { epochs: 3, lr: 1, seed: 1, maxSteps: 5, checkpointEvery: 0 }, { checkpoint: async (c) => (written.push(structuredClone(c.state)), 'ckpt') }).run(),
    (e: unknown) => {
      assert.ok(e instanceof KotobaError);
      assert.match(e.message, /^training diverged after global step 5: a weight is Infinity; no model written; the last good checkpoint is ckpt \(continue with --resume/);
      return true;
    },
  );
  assert.deepEqual(written.map((s) => s.globalStep), [1, 2, 3, 4], 'checkpoints from before the divergence only');
});

test("--max-time limits the run it is given to: the README's --resume --max-time trains for about that long again", async () => {
  const N = 1.5;
  const out = join(tmp, 'timed.safetensors');
  const ckpt = join(tmp, 'timed.ckpt.safetensors');
  const elapsed = () => (readNeuralFile(decodeSafetensors(readFileSync(ckpt), ckpt), ckpt).checkpoint!.state.elapsed);
  const big = join(repoRoot, 'corpus', 'wiki.train.txt'); // the README's example, with a small LSTM
  const first = await runCli(['train', '--model', 'lstm', '--hidden', '16', '--layers', '1', '--classes', '20', '--lowercase', '--valid', TRAIN, '--max-time', String(N), '--json', '--verbose', '-o', out, big]);
  assert.equal(first.code, 0, first.stderr);
  const a = JSON.parse(first.stdout) as { stopped: string; steps: number };
  assert.equal(a.stopped, 'time');
  assert.match(first.stderr, /stopped by --max-time; continue with --resume/);
  const t1 = elapsed();
  assert.ok(t1 >= N * 0.9 && t1 < N + 1, `first run: ${t1} s`);
  const second = await runCli(['train', '--model', 'lstm', '--resume', '--max-time', String(N), '--json', '-o', out, big]);
  assert.equal(second.code, 0, second.stderr);
  const b = JSON.parse(second.stdout) as { stopped: string; steps: number };
  assert.equal(b.stopped, 'time');
  assert.ok(b.steps > a.steps * 1.3, `the resumed run trains: ${a.steps} → ${b.steps} steps`);
  const t2 = elapsed();
  assert.ok(t2 - t1 >= N * 0.9 && t2 - t1 < N + 1, `the resumed run trained ${t2 - t1} s`);
});
