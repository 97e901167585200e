// The optimizers against torch.optim (SGD, AdamW, Adagrad with weight decay and global-norm
// clipping, trajectories of six steps on a quadratic), the learning-rate schedule (warm-up,
// cosine, per-step decay) by hand, and resuming an AdamW/Adagrad run bit for bit (the moments
// travel in the checkpoint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableKernelBackends, createKernels, floatsFor } from '../src/neural/kernels/index.js';
import { Optimizer, optimizerStateFloats, type OptimizerName } from '../src/neural/optim.js';
import { ParamSet } from '../src/neural/params.js';
import { initialState, learningRate, type TrainerOptions } from '../src/neural/trainer.js';

const PYTHON = '/usr/bin/python3';

const THETA0 = [0.5, -1.25, 2.0, 0.1, -0.3];
const SETTINGS: Record<OptimizerName, { lr: number; torch: string }> = {
  adamw: { lr: 0.05, torch: 'torch.optim.AdamW([p], lr=0.05, weight_decay=0.1)' },
  adagrad: { lr: 0.3, torch: 'torch.optim.Adagrad([p], lr=0.3, weight_decay=0.1)' },
  sgd: { lr: 0.2, torch: 'torch.optim.SGD([p], lr=0.2, weight_decay=0.1)' },
};

// loss = ½Σθ² + Σθ, so g = θ + 1: each step depends on the last, and the first steps clip.
// Run once, at load (importing torch takes seconds): its output, or why it could not run.
const TORCH_SCRIPT = `
import json, torch
torch.set_default_dtype(torch.float64)
out = {}
for name, make in [${Object.entries(SETTINGS).map(([n, s]) => `('${n}', lambda p: ${s.torch})`).join(', ')}]:
    p = torch.tensor(${JSON.stringify(THETA0)}, requires_grad=True)
    opt = make(p)
    traj = []
    for t in range(6):
        opt.zero_grad()
        ((p ** 2).sum() * 0.5 + p.sum()).backward()
        torch.nn.utils.clip_grad_norm_([p], 2.0)
        opt.step()
        traj.append(p.detach().tolist())
    out[name] = traj
print(json.dumps(out))
`;
const torchRun = spawnSync(PYTHON, ['-c', TORCH_SCRIPT], { encoding: 'utf8' });
const noTorch = torchRun.status !== 0 && /No module named 'torch'|ENOENT/.test(`${torchRun.stderr}${torchRun.error?.message ?? ''}`);

test('sgd, adamw and adagrad follow torch.optim step for step (weight decay 0.1, clipping at norm 2)', { skip: noTorch && `${PYTHON} with torch is not available` }, async () => {
  assert.equal(torchRun.status, 0, torchRun.stderr);
  const torch = JSON.parse(torchRun.stdout) as Record<OptimizerName, number[][]>;
  for (const backend of await availableKernelBackends()) {
    for (const name of Object.keys(SETTINGS) as OptimizerName[]) {
      const ps = new ParamSet();
      const w = ps.declare('w', [THETA0.length]);
      const k = await createKernels(floatsFor(ps.count, ps.count, optimizerStateFloats(name, ps.count)), { backend });
      ps.allocate(k);
      const opt = new Optimizer(name, k, ps.count);
      w().value.set(THETA0);
      for (let t = 0; t < 6; t++) {
        for (let i = 0; i < THETA0.length; i++) w().grad[i] = w().value[i]! + 1;
        const norm = opt.step(k, ps, SETTINGS[name].lr, 2, 0.1);
        assert.ok(norm > 0);
        for (let i = 0; i < THETA0.length; i++) {
          const want = torch[name][t]![i]!;
          assert.ok(Math.abs(w().value[i]! - want) < 2e-6 * Math.max(1, Math.abs(want)), `${backend} ${name} step ${t + 1} θ[${i}]: ${w().value[i]} vs torch ${want}`);
        }
        assert.ok(w().grad.every((g) => g === 0), 'gradients zeroed');
      }
      assert.equal(opt.steps, 6);
    }
  }
});

test('learning rate: linear warm-up, then cosine to 0 over the planned steps, or η/(1 + ρt)', () => {
  const s = initialState(2, 1);
  const at = (o: Partial<TrainerOptions>, t: number, perEpoch = 10) => learningRate({ epochs: 3, lr: 2, seed: 1, ...o }, { ...s, globalStep: t }, perEpoch);
  assert.deepEqual([0, 1, 3].map((t) => at({ warmup: 4 }, t)), [0.5, 1, 2]);
  assert.equal(at({ warmup: 4 }, 4), 2);
  assert.equal(at({}, 17), 2);
  assert.equal(at({ lrDecay: 0.5 }, 2), 1);
  // Cosine over 3 epochs of 10 steps after 4 warm-up steps: 26 steps from 2 down to 0.
  assert.equal(at({ warmup: 4, schedule: 'cosine' }, 4), 2);
  assert.ok(Math.abs(at({ warmup: 4, schedule: 'cosine' }, 17) - 1) < 1e-12);
  assert.ok(Math.abs(at({ warmup: 4, schedule: 'cosine' }, 30)) < 1e-12);
  assert.ok(Math.abs(at({ warmup: 4, schedule: 'cosine' }, 99)) < 1e-12, 'stays at 0 past the plan');
});
