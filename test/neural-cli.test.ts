// `kotoba train --model …` end to end: every family trains, saves, loads into `kotoba ppl` and
// `kotoba score`, resumes exactly, stops cleanly on Ctrl-C, writes a report, and rejects bad
// options with a message that says what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSafetensors } from '../src/neural/safetensors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'dist', 'bin', 'main.js');
const TRAIN = join(root, 'corpus', 'wiki.valid.txt'); // 26k words: small enough for tests
const VALID = join(root, 'corpus', 'wiki.test.txt');

function kotoba(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'kotoba-neural-cli-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const SMALL: Record<string, string[]> = {
  loglinear: ['--order', '2', '--hash-size', '100000'],
  ffnn: ['--order', '3', '--embed', '8', '--hidden', '16'],
  rnn: ['--hidden', '16'],
  lstm: ['--hidden', '12', '--layers', '1', '--classes', '20'],
  gru: ['--hidden', '12', '--layers', '2', '--dropout', '0.1'],
  transformer: ['--embed', '16', '--hidden', '24', '--layers', '1', '--heads', '2', '--bptt', '12', '--norm', 'pre', '--activation', 'gelu', '--tied'],
};

for (const [kind, arch] of Object.entries(SMALL)) {
  test(`kotoba train --model ${kind}: trains, and kotoba ppl/score read the model with the same perplexity`, () => {
    const out = join(tmp, `${kind}.safetensors`);
    const r = kotoba(['train', '--model', kind, ...arch, '--lowercase', '--min-count', '2', '--max-steps', '8', '--batch', '8', '--valid', VALID, '--json', '-o', out, TRAIN]);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { stopped: string; valid_perplexity: number; steps: number; kind: string };
    assert.equal(summary.kind, kind);
    assert.equal(summary.stopped, 'steps');
    assert.equal(summary.steps, 8);
    assert.ok(summary.valid_perplexity > 1 && Number.isFinite(summary.valid_perplexity));
    // What was written, on stderr: the model, and the checkpoint that --resume continues from.
    assert.match(r.stderr, new RegExp(`^wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*, [\\d,]+ weights, [\\d.]+ (kB|MB)$`, 'm'));
    assert.match(r.stderr, /^wrote .*\.ckpt\.safetensors: checkpoint at epoch 1, step 8, [\d.]+ (kB|MB)$/m);
    const p = kotoba(['ppl', '--lowercase', '--json', out, VALID]);
    assert.equal(p.status, 0, p.stderr);
    const ppl = JSON.parse(p.stdout) as { perplexity: number; tokens: number };
    assert.ok(Math.abs(ppl.perplexity / summary.valid_perplexity - 1) < 1e-4, `${ppl.perplexity} vs ${summary.valid_perplexity}`);
    const s = spawnSync(process.execPath, [cli, 'score', '--words', out], { input: 'the game was released in 2011 .\n', encoding: 'utf8' });
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stdout, /^the=\d+ 0 -\d\.\d+\tgame=/);
    assert.match(s.stdout, /<\/s>=2 0 -\d\.\d+\tTotal: -\d+\.\d+ OOV: 0\n$/);
  });
}

test('--resume continues a run stopped by --max-steps into the same weights as an uninterrupted run', () => {
  const args = ['train', '--model', 'lstm', '--hidden', '10', '--layers', '2', '--dropout', '0.2', '--classes', '16', '--batch', '6', '--bptt', '9', '--seed', '5', '--lowercase', '--valid', VALID, '--json'];
  const a = join(tmp, 'straight.safetensors'), b = join(tmp, 'resumed.safetensors');
  assert.equal(kotoba([...args, '--max-steps', '12', '-o', a, TRAIN]).status, 0);
  const first = kotoba([...args, '--max-steps', '5', '-o', b, TRAIN]);
  assert.equal(first.status, 0, first.stderr);
  assert.ok(existsSync(join(tmp, 'resumed.ckpt.safetensors')), 'a checkpoint is kept after --max-steps');
  const second = kotoba(['train', '--model', 'lstm', '--resume', '--max-steps', '12', '--json', '-o', b]);
  assert.equal(second.status, 0, second.stderr);
  assert.equal((JSON.parse(second.stdout) as { steps: number }).steps, 12);
  const x = decodeSafetensors(readFileSync(a), a), y = decodeSafetensors(readFileSync(b), b);
  assert.equal(x.tensors.size, y.tensors.size);
  for (const [name, t] of x.tensors) assert.deepEqual(y.tensors.get(name)!.data, t.data, name);
});

test('Ctrl-C writes a checkpoint and the model so far, exits with a message, and --resume continues', async () => {
  const out = join(tmp, 'interrupted.safetensors');
  // The long text, so that the interrupt lands inside epoch 1 (an epoch of the short one can end
  // between the first progress line and the signal).
  const LONG = join(root, 'corpus', 'wiki.train.txt');
  const child = spawn(process.execPath, [cli, 'train', '--model', 'rnn', '--hidden', '64', '--classes', '0', '--epochs', '50', '--verbose', '-o', out, LONG]);
  let stderr = '';
  const code = await new Promise<number | null>((resolve) => {
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // The first progress line means the loop is running: interrupt it.
      if (!sent && /tokens\/s/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', resolve);
  });
  assert.equal(code, 1, stderr);
  assert.match(stderr, /kotoba: interrupted at epoch 1, step \d+: wrote the checkpoint .*interrupted\.ckpt\.safetensors and the model so far to .*interrupted\.safetensors \(run the same command with --resume to continue\)/);
  assert.ok(existsSync(out));
  const again = kotoba(['train', '--model', 'rnn', '--resume', '--max-steps', '3', '--json', '-o', out]);
  assert.equal(again.status, 0, again.stderr);
});

test('--context stream: recorded in the model, used by ppl and score unless told otherwise; AdamW trains and resumes', () => {
  const out = join(tmp, 'stream.safetensors');
  const r = kotoba(['train', '--model', 'gru', '--hidden', '12', '--layers', '1', '--context', 'stream', '--optimizer', 'adamw', '--warmup', '3', '--batch', '1', '--bptt', '20', '--max-steps', '6', '--lowercase', '--max-vocab', '2000', '--valid', VALID, '--json', '-o', out, TRAIN]);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { valid_perplexity: number; description: string };
  assert.match(summary.description, /^GRU 12 .*stream context$/);
  const meta = decodeSafetensors(readFileSync(out), out).metadata;
  assert.equal((JSON.parse(meta.config!) as { context: string }).context, 'stream');
  assert.equal((JSON.parse(meta.training!) as { run: { optimizer: string } }).run.optimizer, 'adamw');
  const ppl = (args: string[]) => JSON.parse(kotoba(['ppl', '--lowercase', '--json', ...args, out, VALID]).stdout) as { perplexity: number; context: string; tokens: number };
  const own = ppl([]), sentence = ppl(['--context', 'sentence']);
  assert.equal(own.context, 'stream');
  assert.equal(sentence.context, 'sentence');
  assert.equal(own.tokens, sentence.tokens);
  // Validation ran over one stream (batch 1): the same number ppl gives.
  assert.ok(Math.abs(own.perplexity / summary.valid_perplexity - 1) < 1e-4, `${own.perplexity} vs ${summary.valid_perplexity}`);
  assert.notEqual(own.perplexity, sentence.perplexity);
  const text = kotoba(['ppl', '--lowercase', out, VALID]).stdout;
  assert.match(text, /Context:\tstream\n$/);
  // score: the second line is scored after the first in stream context, alone in sentence context.
  const lines = 'the game was released .\nthe game was released .\n';
  const score = (args: string[]) => spawnSync(process.execPath, [cli, 'score', '--lowercase', ...args, out], { input: lines, encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
  const [a1, a2] = score([]), [b1, b2] = score(['--context', 'sentence']);
  assert.equal(a1, b1);
  assert.equal(b1, b2);
  assert.notEqual(a1, a2);
  // An n-gram model has no state across lines.
  const arpa = join(tmp, 'stream.arpa');
  assert.equal(kotoba(['train', '--order', '2', '-o', arpa, VALID]).status, 0);
  const bad = kotoba(['ppl', '--context', 'stream', arpa, VALID]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^kotoba: --context stream needs a model whose state spans lines: the .* scores each line on its own \(use an rnn, gru, lstm or transformer model\)\n$/);
  // Resume an AdamW run stopped early: the moments come back from the checkpoint.
  const args = ['train', '--model', 'gru', '--hidden', '8', '--layers', '1', '--optimizer', 'adamw', '--batch', '4', '--bptt', '9', '--lowercase', '--max-vocab', '1000', '--json'];
  const straight = join(tmp, 'adamw-straight.safetensors'), resumed = join(tmp, 'adamw-resumed.safetensors');
  assert.equal(kotoba([...args, '--max-steps', '6', '-o', straight, TRAIN]).status, 0);
  assert.equal(kotoba([...args, '--max-steps', '3', '-o', resumed, TRAIN]).status, 0);
  assert.equal(kotoba(['train', '--model', 'gru', '--resume', '--max-steps', '6', '-o', resumed]).status, 0);
  const x = decodeSafetensors(readFileSync(straight), straight), y = decodeSafetensors(readFileSync(resumed), resumed);
  for (const [name, t] of x.tensors) assert.deepEqual(y.tensors.get(name)!.data, t.data, name);
});

test('--report writes a self-contained HTML chart of the epochs', () => {
  const out = join(tmp, 'report.safetensors'), html = join(tmp, 'report.html');
  const r = kotoba(['train', '--model', 'ffnn', '--order', '2', '--embed', '4', '--hidden', '8', '--epochs', '2', '--lowercase', '--max-vocab', '500', '--valid', VALID, '--report', html, '-o', out, VALID]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^wrote .*report\.html: training report, [\d.]+ kB$/m);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!DOCTYPE html>/);
  assert.match(page, /<svg[^>]*>[\s\S]*Perplexity per epoch/);
  assert.equal((page.match(/<tr><td class="num">\d/g) ?? []).length, 2, 'one table row per epoch');
  assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org)/, 'no scripts, no external resources');
});

test('bad options are one-line errors that say what to do', () => {
  const cases: [string[], RegExp][] = [
    [['--model', 'rnn', '-o', join(tmp, 'x.arpa'), TRAIN], /neural models are written as safetensors: .*x\.arpa should end in \.safetensors/],
    [['--model', 'rnn', '--resume', '-o', join(tmp, 'none.safetensors'), TRAIN], /nothing to resume: no checkpoint .*none\.ckpt\.safetensors/],
    [['--model', 'gru', '--activation', 'relu', '-o', join(tmp, 'x.safetensors'), TRAIN], /--activation does not apply to the gru model/],
    [['--model', 'rnn', '--activation', 'sigmoid', '-o', join(tmp, 'x.safetensors'), TRAIN], /unknown --activation 'sigmoid' for the rnn model \(use tanh or relu\)/],
    [['--model', 'ffnn', '--layers', '2', '-o', join(tmp, 'x.safetensors'), TRAIN], /--layers does not apply to the ffnn model/],
    [['--model', 'lstm', '--optimizer', 'adam', '-o', join(tmp, 'x.safetensors'), TRAIN], /unknown optimizer 'adam' \(use sgd, adamw, adagrad\)/],
    [['--model', 'lstm', '--schedule', 'step', '-o', join(tmp, 'x.safetensors'), TRAIN], /unknown schedule 'step' \(use plateau or cosine\)/],
    [['--model', 'ffnn', '--bptt', '5', '-o', join(tmp, 'x.safetensors'), TRAIN], /--bptt does not apply to the ffnn model \(it is an option of --model rnn, gru, lstm, transformer\)/],
    [['--model', 'loglinear', '--classes', '10', '-o', join(tmp, 'x.safetensors'), TRAIN], /--classes does not apply to the loglinear model \(it is an option of --model ffnn, rnn, gru, lstm, transformer\)/],
    [['--model', 'lstm', '--tied', '--embed', '10', '--hidden', '20', '-o', join(tmp, 'x.safetensors'), TRAIN], /--tied needs --embed equal to --hidden/],
    [['--model', 'lstm', '--dropout', '1', '-o', join(tmp, 'x.safetensors'), TRAIN], /--dropout must be 0 ≤ P < 1, not 1 /],
    [['--model', 'rnn2', '-o', join(tmp, 'x.safetensors'), TRAIN], /unknown model kind 'rnn2'/],
  ];
  for (const [args, message] of cases) {
    const r = kotoba(['train', ...args]);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, /internal error|\n {4}at /, 'no stack trace');
  }
});
