/**
 * No silent data loss on writing: a failed write (a full disk, a file size limit, a full or closed
 * stdout) is one line naming the path and the cause, a non-zero exit, no temporary file left and
 * the old file at the final name intact; no output may be an input; temporary files of killed
 * writes are removed by the next write; text from files is printed on one line.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { arpaText, BackoffModel, corpusFromText, estimate, jsonErrorDetail, printable, serializeModel } from '../src/index.js';
import { writeAtomic, writeChunk } from '../src/node/index.js';
import { DirectFile } from '../src/node/direct-file.js';
import { BackgroundFlush } from '../src/node/io.js';
import { assertCleanFailure, repoRoot, runCli, tempDir } from './helpers.js';

const PREVIOUS = 'the previous version of this file\n';

interface Inputs {
  text: string;
  tri: string;
  bi: string;
}

/** The inputs every case reads: a 300-line text and two n-gram models made from it (in-process, quickly). */
async function makeInputs(dir: string): Promise<Inputs> {
  const lines = readFileSync(join(repoRoot, 'corpus', 'wiki.valid.txt'), 'utf8').split('\n').slice(0, 300);
  const text = join(dir, 'small.txt');
  writeFileSync(text, lines.join('\n') + '\n');
  const corpus = corpusFromText(lines);
  const tri = join(dir, 'tri.arpa');
  const bi = join(dir, 'bi.arpa');
  for (const [order, path] of [[3, tri], [2, bi]] as const) {
    writeFileSync(path, await arpaText(estimate(corpus, { order, log: { warn() {}, info() {} } })));
  }
  return { text, tri, bi };
}

/** One writer: its arguments given the folder for its output, the file that must fail, its size. */
interface WriteCase {
  name: string;
  args: (out: string, inputs: Inputs) => string[];
  /** The output that must fail, in `out`. */
  file: string;
  /** Under 10 kB: fails only on a disk with no room at all (or a file size limit of 0). */
  small?: boolean;
}

const tinyNeural = ['--model', 'ffnn', '--hidden', '8', '--embed', '8', '--order', '2', '--epochs', '1', '-q'];

const CASES: WriteCase[] = [
  ...['m.arpa', 'm.arpa.gz', 'm.kblm'].map((file): WriteCase => ({ name: `train -o ${file}`, file, args: (out, i) => ['train', '-q', '-o', join(out, file), i.text] })),
  ...['c.arpa', 'c.arpa.gz', 'c.kblm'].map((file): WriteCase => ({ name: `convert to ${file}`, file, args: (out, i) => ['convert', i.tri, join(out, file)] })),
  { name: 'prune', file: 'p.arpa', args: (out, i) => ['prune', '-t', '1e-7', i.tri, '-o', join(out, 'p.arpa')] },
  { name: 'interpolate --arpa', file: 'i.arpa', args: (out, i) => ['interpolate', i.tri, i.bi, '--weights', '0.5', '0.5', '--arpa', join(out, 'i.arpa')] },
  { name: 'interpolate -o', file: 'mix.json', small: true, args: (out, i) => ['interpolate', i.tri, i.bi, '--weights', '0.5', '0.5', '-o', join(out, 'mix.json')] },
  { name: 'neural training', file: 'n.safetensors', args: (out, i) => ['train', ...tinyNeural, '-o', join(out, 'n.safetensors'), i.text] },
  { name: 'neural --report', file: 'r.html', small: true, args: (out, i) => ['train', ...tinyNeural, '-o', join(i.text, '..', 'report-model.safetensors'), '--report', join(out, 'r.html'), i.text] },
  { name: 'sweep', file: 'sw.html', small: true, args: (out, i) => ['sweep', '--orders', '1', '--min-seconds', '0.01', i.text, i.text, '-o', join(out, 'sw.html')] },
];

/** Runs every case with its output on `out`, after `prepare`, and checks the one-line error. */
async function runCases(cases: WriteCase[], out: string, inputs: Inputs, fault: { prepare: (c: WriteCase) => void; shell?: (c: WriteCase) => string; cause: string }): Promise<void> {
  for (const c of cases) {
    writeFileSync(join(out, c.file), PREVIOUS);
    fault.prepare(c);
    const r = await runCli(c.args(out, inputs), fault.shell ? { shell: fault.shell(c) } : {});
    assertCleanFailure(r, new RegExp(`cannot write ${join(out, c.file).replace(/\./g, '\\.')}: ${fault.cause}`));
    assert.equal(readFileSync(join(out, c.file), 'utf8'), PREVIOUS, `${c.name}: the previous file is intact`);
    assert.deepEqual(readdirSync(out).filter((f) => f !== c.file && f !== 'filler'), [], `${c.name}: no temporary file left`);
    for (const f of readdirSync(out)) unlinkSync(join(out, f));
  }
}

/** Mounts a 2 MB tmpfs on `dir`; false when this machine does not allow it (not root). */
function mountTmpfs(dir: string): boolean {
  return spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'ignore' }).status === 0;
}

/** Fills the disk of `dir` so that `free` bytes are left (0: nothing at all). */
function fillDisk(dir: string, free: number): void {
  const spare = join(dir, 'spare');
  if (free > 0) writeFileSync(spare, Buffer.alloc(free));
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(4 << 20));
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  if (free > 0) unlinkSync(spare);
}

test('write errors: a full disk (a 2 MB tmpfs) and a file size limit (ulimit -f) are one line naming the file, exit 1, the old file intact, no temporary file', async (t) => {
  const { dir, cleanup } = tempDir();
  const disk = join(dir, 'disk');
  mkdirSync(disk);
  try {
    const inputs = await makeInputs(dir);
    const mounted = mountTmpfs(disk);
    if (mounted) {
      try {
        // 64 kB free: the big writers fail part way through, after some chunks were written.
        await runCases(CASES, disk, inputs, { prepare: (c) => fillDisk(disk, c.small ? 0 : 64 << 10), cause: 'no space left on device' });
      } finally {
        spawnSync('umount', [disk]);
      }
    } else {
      t.diagnostic('mounting a tmpfs needs root: the full-disk cases are skipped; every writer meets a file size limit instead');
    }
    // A write error that needs no mount. With the full disk done, a few cases suffice: a gzip
    // stream, a binary model, a neural model. (Under a limit the model fails before the report.)
    const limited = mounted ? CASES.filter((c) => ['train -o m.arpa.gz', 'convert to c.kblm', 'neural training'].includes(c.name)) : CASES.filter((c) => c.name !== 'neural --report');
    await runCases(limited, disk, inputs, { prepare: () => {}, shell: (c) => `ulimit -f ${c.small ? 0 : 64}; "$@"`, cause: 'file too large' });
  } finally {
    cleanup();
  }
});

test('stdout: a full device is one line and exit 1; a closed pipe ends quietly with exit 0', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { text, tri } = await makeInputs(dir);
    assertCleanFailure(await runCli(['score', tri, text], { shell: '"$@" > /dev/full' }), /^kotoba: cannot write <stdout>: no space left on device/);
    assertCleanFailure(await runCli(['--help'], { shell: '"$@" > /dev/full' }), /cannot write <stdout>: no space left on device/);
    assertCleanFailure(await runCli(['train', '-o', '-', text], { shell: '"$@" > /dev/full' }), /^kotoba: cannot write <stdout>: no space left on device/);
    // A reader that stops early: kotoba's own status is 0 and it prints nothing.
    const r = await runCli(['score', tri, '-'], { shell: 'yes "the game was released" | head -n 100000 | "$@" | head -n 1; echo "status ${PIPESTATUS[2]}" >&2' });
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.equal(r.stderr, 'status 0\n');
  } finally {
    cleanup();
  }
});

test('writeChunk rejects when the stream fails, instead of waiting for a drain that never comes', async () => {
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  // Fails later (as a file on a full disk does), after the buffer filled up.
  const later = new Writable({ highWaterMark: 4, write: (_c, _e, cb) => setImmediate(() => cb(enospc())) });
  later.on('error', () => {});
  await assert.rejects(writeChunk(later, 'more than four bytes'), { code: 'ENOSPC' });
  await assert.rejects(writeChunk(later, 'x'), { code: 'ENOSPC' }, 'and every write after');
  // Fails inside write() (as stdout on Linux does).
  const now = new Writable({ write: (_c, _e, cb) => cb(enospc()) });
  now.on('error', () => {});
  await assert.rejects(writeChunk(now, 'x'), { code: 'ENOSPC' });
  // A stream destroyed while a write waits.
  const closed = new Writable({ highWaterMark: 1, write: () => {} });
  const waiting = writeChunk(closed, 'xy');
  closed.destroy();
  await assert.rejects(waiting, { code: 'ERR_STREAM_DESTROYED' });
});

test('writeAtomic: an exception in the writer leaves the old file and no temporary file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const target = join(dir, 'out.txt.gz');
    writeFileSync(target, PREVIOUS);
    await assert.rejects(
      writeAtomic(target, async (out) => {
        await out('partial');
        throw new Error('the model could not be serialised');
      }),
      /could not be serialised/,
    );
    assert.deepEqual(readdirSync(dir), ['out.txt.gz'], 'no temporary file left');
    assert.equal(readFileSync(target, 'utf8'), PREVIOUS);
  } finally {
    cleanup();
  }
});

test('writeAtomic flushes a large file as it goes, and a flush that fails is reported', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // 80 MB in megabyte chunks: one flush in the background, then the fsync before the rename.
    const target = join(dir, 'big.bin');
    const chunk = new Uint8Array(1 << 20).fill(97);
    await writeAtomic(target, async (out) => {
      for (let i = 0; i < 80; i++) await out(chunk);
    });
    const data = readFileSync(target);
    assert.equal(data.length, 80 << 20);
    assert.ok(data.every((b) => b === 97));
    // A file that cannot be flushed (EINVAL on /dev/null): the next write, or the check at the end, throws.
    const fd = openSync('/dev/null', 'w');
    try {
      const flusher = new BackgroundFlush(fd, { closed: false });
      flusher.wrote(1 << 20);
      flusher.check(); // nothing to flush yet
      flusher.wrote(64 << 20);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.throws(() => flusher.check(), { code: 'EINVAL' });
      assert.throws(() => flusher.wrote(1), { code: 'EINVAL' });
    } finally {
      closeSync(fd);
    }
  } finally {
    cleanup();
  }
});

test('an output that is an input is refused before any work, for every command, with links and ./ paths', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { text, tri, bi } = await makeInputs(dir);
    const inDir = (name: string) => join(dir, name);
    const hard = inDir('hard.txt');
    linkSync(text, hard);
    const triLink = inDir('tri-link.arpa');
    linkSync(tri, triLink);
    const sym = inDir('sym.arpa');
    symlinkSync(tri, sym);
    const mix = inDir('m.mix.json');
    assert.equal((await runCli(['interpolate', '-q', tri, bi, '-o', mix])).code, 0);
    const ckpt = inDir('n.ckpt.safetensors');
    writeFileSync(ckpt, PREVIOUS);
    const before = new Map([text, tri, bi, mix, ckpt].map((p) => [p, readFileSync(p)]));
    const same = /is the same file as .* \(writing it would destroy the input; /;
    const refused: [string[], RegExp, { cwd?: string; shell?: string }?][] = [
      // (A text named .arpa: the model's name, given as the text by mistake.)
      [['train', '-o', tri, tri], same],
      [['train', '-o', triLink, tri], same], // a hard link
      [['train', '-o', 'tri.arpa', './tri.arpa'], same, { cwd: dir }],
      [['train', '-o', tri, '-'], /-o .*tri\.arpa is the same file as the training text \(standard input\)/, { shell: `"$@" < ${tri}` }],
      [['train', '-o', tri, '--vocab', tri, text], same],
      [['train', '--model', 'rnn', '-o', inDir('n.safetensors'), '--valid', ckpt, text], /the checkpoint .*n\.ckpt\.safetensors is the same file as --valid/],
      [['train', '--model', 'rnn', '-o', inDir('r.safetensors'), '--report', inDir('r.safetensors'), text], /-o .*r\.safetensors and --report .*r\.safetensors are the same file/],
      [['convert', tri, sym], same], // a symlink to the input
      [['prune', '-t', '1e-7', sym, '-o', tri], same],
      [['interpolate', tri, bi, '-o', tri], /-o .*tri\.arpa is the same file as the model/],
      [['interpolate', tri, bi, '--arpa', bi], /--arpa .*bi\.arpa is the same file as the model/],
      [['interpolate', mix, tri, '-o', bi], /-o .*bi\.arpa is the same file as a model named in .*m\.mix\.json: /],
      [['interpolate', tri, bi, '--tune', text, '-o', text], /-o .*small\.txt is the same file as --tune/],
      [['sweep', '--orders', '1', text, hard, '-o', text], same],
      [['train', '-o', dir, text], /cannot write .*: it is a directory/], // checked before training too
      [['score', tri, text], /standard output is the same file as the text .*small\.txt \(writing it would destroy the input; redirect/, { shell: `"$@" >> ${text}` }],
    ];
    for (const [args, pattern, options] of refused) assertCleanFailure(await runCli(args, options), pattern);
    for (const [p, bytes] of before) assert.deepEqual(readFileSync(p), bytes, `${p} is unchanged`);
    // Distinct files are fine, even beside links to the inputs.
    for (const args of [['train', '-q', '-o', inDir('v.arpa'), '--vocab', tri, hard], ['sweep', '--orders', '1', '--min-seconds', '0.01', text, hard, '-o', inDir('s.html')]]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
    }
  } finally {
    cleanup();
  }
});

test('temporary files of killed writes are removed by the next write to the folder; nothing else is', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // A writer killed mid-write (kill -9), as a crash or a power cut would stop it.
    const script = `import { writeAtomic } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'node', 'index.js'))};
      await writeAtomic(${JSON.stringify(join(dir, 'model.arpa'))}, async (out) => { await out('partial'); console.log('writing'); await new Promise(() => setInterval(() => {}, 1000)); });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const [stale] = readdirSync(dir);
    const m = /^\.model\.arpa\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(stale ?? '');
    assert.ok(m, `a temporary file is left: ${stale}`);
    const host = m[1]!;
    // Not stale: a live writer on this machine, a writer on another machine, other names.
    const keep = [`.model.arpa.${host}.${process.pid}.0123abcd.tmp`, `.model.arpa.another-host.${child.pid}.0123abcd.tmp`, `.model.arpa.${host}.${child.pid}.tmp`, 'notes.tmp'];
    for (const f of keep) writeFileSync(join(dir, f), 'keep');
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'a b c\n');
    const r = await runCli(['train', '-q', '--order', '2', '-o', join(dir, 'other.arpa'), text]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(dir).sort(), [...keep, 'other.arpa', 'text.txt'].sort());
  } finally {
    cleanup();
  }
});

test('text from files prints on one line: info escapes the description, mixture JSON errors give line and column', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const tables = estimate(corpusFromText(['a b c', 'b c a']), { order: 2, log: { warn() {}, info() {} } });
    tables.description = 'evil\x1b[2J\nfamily:\tneural\u202e';
    const kblm = join(dir, 'evil.kblm');
    writeFileSync(kblm, Buffer.concat(serializeModel(BackoffModel.fromTables(tables))));
    const r = await runCli(['info', kblm]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /[\x1b\u202e]/);
    assert.match(r.stdout, /^description:\tevil\\x1b\[2J\\nfamily:\\tneural\\u202e$/m);
    assert.equal(r.stdout.match(/^family:/gm)?.length, 1, 'the description cannot forge a field');
    assert.equal(JSON.parse((await runCli(['info', '--json', kblm])).stdout).description, tables.description);

    const mix = join(dir, 'bad.mix.json');
    writeFileSync(mix, '{\n  "format": "kotoba-mixture",\n  "version": 1,\n  "components": [],\n}\n');
    assertCleanFailure(await runCli(['ppl', mix], { input: 'a\n' }), /bad\.mix\.json: not valid JSON: .* at line 5, column 1 \(a mixture file is/);
    // V8 quotes the text itself in this message: it is left out.
    writeFileSync(mix, '{\n  "format": "kotoba-mixture",\n  "components": [\x1b[31m oops\n');
    assertCleanFailure(await runCli(['ppl', mix], { input: 'a\n' }), /bad\.mix\.json: not valid JSON: Unexpected token '\\x1b' \(a mixture/);
    // A component path with a newline and an escape sequence: one line, escaped.
    writeFileSync(mix, JSON.stringify({ format: 'kotoba-mixture', version: 1, components: [{ path: 'x\n\x1b[31m.arpa', weight: 1 }] }));
    const c = await runCli(['ppl', mix], { input: 'a\n' });
    assertCleanFailure(c, /component x\\n\\x1b\[31m\.arpa: /);
  } finally {
    cleanup();
  }
});

test('printable and jsonErrorDetail', () => {
  assert.equal(printable('a\tb\nc\r\x00\x7f\x9b\u2028\u202e\u2066 é 日本'), 'a\\tb\\nc\\r\\x00\\x7f\\x9b\\u2028\\u202e\\u2066 é 日本');
  const text = '{\n  "a": 1,\n}';
  let error: unknown;
  try {
    JSON.parse(text);
  } catch (e) {
    error = e;
  }
  assert.match(jsonErrorDetail(error, text), /at line 3, column 1$/);
  assert.doesNotMatch(jsonErrorDetail(new SyntaxError('Unexpected token \'x\', "{\n "a": x}" is not valid JSON'), ''), /\n|is not valid/);
});

/** Bytes 0…n−1 of a fixed pseudo-random stream: a misplaced block shows. */
function pattern(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return bytes;
}

test('large outputs written around the page cache (O_DIRECT): every length round the block and buffer sizes reads back byte for byte, in any chunks, awaited or not', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const probe = join(dir, 'probe');
    const direct = DirectFile.create(probe);
    assert.ok(direct, 'this file system takes O_DIRECT (the temporary directory of the tests)');
    await direct.close();
    const MB = 1 << 20;
    for (const n of [0, 1, 4095, 4096, 4097, 8 * MB - 1, 8 * MB, 8 * MB + 1, 16 * MB + 4097, 21 * MB + 123]) {
      const bytes = pattern(n);
      const target = join(dir, `out-${n}.bin`);
      await writeAtomic(
        target,
        async (out) => {
          // Chunks of every size, some of them not awaited (the writes still go in order).
          const pending: Promise<void>[] = [];
          for (let i = 0, k = 0; i < n; k++) {
            const m = Math.min(n - i, [1, 3000, 5 * MB, 4096, 777_777][k % 5]!);
            const write = out(bytes.subarray(i, i + m));
            if (k % 3 === 0) pending.push(write);
            else await write;
            i += m;
          }
          await Promise.all(pending);
        },
        { large: true },
      );
      assert.ok(Buffer.from(readFileSync(target)).equals(Buffer.from(bytes)), `${n} bytes`);
      assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file');
    }
    // Text chunks too, and where the file system refuses O_DIRECT (tmpfs) the usual way.
    for (const where of [dir, '/dev/shm']) {
      if (where === '/dev/shm' && !existsSync(where)) continue;
      const target = join(where, `kotoba-text-${process.pid}.txt`);
      try {
        await writeAtomic(target, async (out) => void (await out('ぶんしょう\n'), await out(pattern(10_000))), { large: true });
        assert.ok(readFileSync(target).equals(Buffer.concat([Buffer.from('ぶんしょう\n'), pattern(10_000)])), where);
      } finally {
        rmSync(target, { force: true });
      }
    }
  } finally {
    cleanup();
  }
});

test('a large output around the page cache on a full disk (a small ext4 file system) is one line naming the file; the old file intact, no temporary file', async (t) => {
  const { dir, cleanup } = tempDir();
  const image = join(dir, 'disk.img');
  const disk = join(dir, 'disk');
  mkdirSync(disk);
  try {
    writeFileSync(image, '');
    spawnSync('truncate', ['-s', '8M', image]);
    const made = spawnSync('mkfs.ext4', ['-q', image]).status === 0 && spawnSync('mount', ['-o', 'loop', image, disk]).status === 0;
    if (!made) {
      t.skip('cannot make and mount a small ext4 file system here (needs root and loop devices); the tmpfs cases above take the usual path');
      return;
    }
    try {
      const target = join(disk, 'm.arpa');
      writeFileSync(target, PREVIOUS);
      await assert.rejects(
        writeAtomic(target, async (out) => { for (let i = 0; i < 6; i++) await out(pattern(3 << 20)); }, { large: true }),
        (e: Error) => (assert.match(e.message, new RegExp(`^cannot write ${target.replace(/\./g, '\\.')}: no space left on device`)), true),
      );
      assert.equal(readFileSync(target, 'utf8'), PREVIOUS, 'the previous file is intact');
      assert.deepEqual(readdirSync(disk).filter((f) => f !== 'lost+found'), ['m.arpa'], 'no temporary file');
      // With room, the same writer works on this file system.
      await writeAtomic(target, (out) => out(pattern(1 << 20)), { large: true });
      assert.ok(readFileSync(target).equals(Buffer.from(pattern(1 << 20))));
    } finally {
      spawnSync('umount', [disk]);
    }
  } finally {
    cleanup();
  }
});
