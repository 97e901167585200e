// Options that change how text becomes words (--lowercase, --segment) stick to the model: every
// model file kotoba writes stores them (ARPA in a comment KenLM reads past, .kblm in its header,
// safetensors in its metadata, mixtures in their JSON), every command that reads text with a
// model applies them without being told, and a flag that contradicts them is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KotobaError } from '../src/errors.js';
import { parseArpa } from '../src/ngram/arpa.js';
import { decodeSafetensors } from '../src/neural/safetensors.js';
import { loadModel } from '../src/node/models.js';
import '../src/node/mixture-files.js';
import '../src/node/neural-files.js';
import { textOptionsFromJson, textOptionsToJson } from '../src/text/text-options.js';
import { fixtures, repoRoot, runCli, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir();
test.after(cleanup);

const TRAIN = join(repoRoot, 'corpus', 'wiki.valid.txt');
// Mixed-case text and the same text lowercased (the first 150 lines of the test set).
const MIXED = join(dir, 'mixed.txt');
const LOWER = join(dir, 'lower.txt');
const mixedText = readFileSync(join(repoRoot, 'corpus', 'wiki.test.txt'), 'utf8').split('\n').slice(0, 150).join('\n') + '\n';
writeFileSync(MIXED, mixedText);
writeFileSync(LOWER, mixedText.toLowerCase());
assert.notEqual(mixedText, mixedText.toLowerCase());

const path = (name: string) => join(dir, name);

async function ok(args: string[], input?: string): Promise<string> {
  const r = await runCli(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kotoba ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A one-line error, exit 1, no stack trace. */
async function fails(args: string[], message: RegExp): Promise<void> {
  const r = await runCli(args);
  assert.equal(r.code, 1, `kotoba ${args.join(' ')} should fail: ${r.stdout}`);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/);
}

const perplexity = async (args: string[]) => (JSON.parse(await ok(['ppl', '--json', ...args])) as { perplexity: number; oov: number }).perplexity;

test.before(async () => {
  await ok(['train', '--order', '3', '--lowercase', '-o', path('lc.arpa'), TRAIN]);
  await ok(['train', '--order', '3', '--lowercase', '-o', path('lc.kblm'), TRAIN]);
  await ok(['train', '--order', '2', '-o', path('cased.kblm'), TRAIN]);
  await ok(['train', '--order', '2', '-o', path('cased.arpa'), TRAIN]);
  await ok(['train', '--model', 'rnn', '--hidden', '8', '--lowercase', '--max-steps', '3', '-o', path('rnn.safetensors'), TRAIN]);
  await ok(['interpolate', path('lc.kblm'), path('rnn.safetensors'), '--weights', '0.7', '0.3', '-o', path('mix.json')]);
});

test('every model file stores the text options: an ARPA comment line, the .kblm header, safetensors metadata, the mixture file', async () => {
  const arpa = readFileSync(path('lc.arpa'), 'utf8');
  assert.ok(arpa.startsWith('# kotoba text options: {"lowercase":true,"segment":null}\n\\data\\\n'), arpa.slice(0, 80));
  // The default options leave ARPA files as lmplz writes them: no comment.
  assert.ok(readFileSync(path('cased.arpa'), 'utf8').startsWith('\\data\\\n'));
  const kblm = readFileSync(path('lc.kblm'));
  const header = JSON.parse(kblm.subarray(24, 24 + kblm.readUInt32LE(12)).toString('utf8')) as { text: unknown };
  assert.deepEqual(header.text, { lowercase: true, segment: null });
  const cased = readFileSync(path('cased.kblm'));
  assert.deepEqual((JSON.parse(cased.subarray(24, 24 + cased.readUInt32LE(12)).toString('utf8')) as { text: unknown }).text, { lowercase: false, segment: null });
  const st = decodeSafetensors(readFileSync(path('rnn.safetensors')), 'rnn');
  assert.deepEqual(JSON.parse(st.metadata.text!), { lowercase: true, segment: null });
  assert.deepEqual((JSON.parse(readFileSync(path('mix.json'), 'utf8')) as { text: unknown }).text, { lowercase: true, segment: null });
  // convert and prune carry them over; info shows them.
  await ok(['convert', path('lc.arpa'), path('lc2.kblm')]);
  await ok(['convert', path('lc2.kblm'), path('lc2.arpa.gz')]);
  await ok(['prune', '--threshold', '1e-6', path('lc2.arpa.gz'), '-o', path('lc-pruned.arpa')]);
  for (const m of ['lc2.kblm', 'lc2.arpa.gz', 'lc-pruned.arpa']) assert.deepEqual((await loadModel(path(m))).text, { lowercase: true }, m);
  assert.deepEqual((JSON.parse(await ok(['info', '--json', path('mix.json')])) as { text: unknown }).text, { lowercase: true, segment: null });
  assert.match(await ok(['info', path('lc.kblm')]), /^text:\t--lowercase$/m);
});

test('a model trained with --lowercase reads mixed-case text lowercased without being told: ARPA, .kblm, neural, mixture', async () => {
  for (const m of ['lc.arpa', 'lc.kblm', 'rnn.safetensors', 'mix.json']) {
    const lowered = await perplexity([path(m), LOWER]);
    assert.equal(await perplexity([path(m), MIXED]), lowered, `${m}: mixed-case text scores as the lowercased text`);
    if (m === 'lc.kblm') assert.equal(await perplexity(['--lowercase', path(m), MIXED]), lowered, "a flag that repeats the model's option is fine");
  }
});

test('score, rerank, next, generate and interpolate --tune apply the model\'s text options', async () => {
  const model = path('lc.kblm');
  assert.equal(await ok(['score', '--words', model], 'The Game was released in Japan .\n'), await ok(['score', '--words', model], 'the game was released in japan .\n'));
  const candidates = 'The Game was released in Japan .\nJapan the in released game .\n';
  const ranked = async (text: string) => (JSON.parse(await ok(['rerank', '--json', model], text)) as { candidates: { index: number; log10: number; oov: number }[] }).candidates.map(({ index, log10, oov }) => ({ index, log10, oov }));
  assert.deepEqual(await ranked(candidates), await ranked(candidates.toLowerCase()));
  const next = await runCli(['next', '--json', model, 'The Game Was']);
  assert.equal(next.stderr, '', 'no context word is unknown');
  assert.equal(next.stdout, await ok(['next', '--json', model, 'the game was']));
  assert.equal(await ok(['generate', '--seed', '3', '--count', '2', '--prefix', 'The Game', model]), await ok(['generate', '--seed', '3', '--count', '2', '--prefix', 'the game', model]));
  const tuned = async (dev: string) => {
    const r = JSON.parse(await ok(['interpolate', path('lc.kblm'), path('rnn.safetensors'), '--tune', dev, '--json'])) as { weights: number[]; dev_perplexity: number };
    return { weights: r.weights, dev_perplexity: r.dev_perplexity };
  };
  assert.deepEqual(await tuned(MIXED), await tuned(LOWER));
});

test('a flag that contradicts the model\'s text options is a one-line error; a model that stores none reads text as the flags say', async () => {
  await fails(['ppl', '--no-lowercase', path('lc.kblm'), MIXED], /^kotoba: .*lc\.kblm reads text with --lowercase \(as it was trained\); --no-lowercase would read it differently \(drop --no-lowercase: the model's own text options apply by themselves\)\n$/);
  await fails(['score', '--segment', 'ja', path('lc.arpa'), MIXED], /lc\.arpa reads text with --lowercase .*; --segment ja would read it differently/);
  await fails(['ppl', '--lowercase', path('cased.kblm'), MIXED], /cased\.kblm reads text with no --lowercase or --segment .*; --lowercase would read it differently/);
  await fails(['next', '--lowercase', path('rnn.safetensors'), '--no-lowercase', 'the'], /--lowercase and --no-lowercase both given/);
  await fails(['ppl', '--no-lowercase', path('mix.json'), MIXED], /mix\.json reads text with --lowercase/);
  await fails(['train', '--model', 'rnn', '--resume', '--no-lowercase', '--max-steps', '5', '-o', path('rnn.safetensors')], /rnn\.ckpt\.safetensors reads text with --lowercase \(as it was trained\); --no-lowercase would read it differently/);
  // lmplz's ARPA files say nothing: the flags decide, as they always did.
  const lmplz = join(fixtures, 'kenlm', 'tiny-ja', 'tiny_ja_o3.arpa');
  assert.equal((await runCli(['ppl', '--lowercase', lmplz, MIXED])).code, 0);
  // So does a kotoba ARPA file with the default options (it is byte for byte what lmplz writes).
  assert.equal(await perplexity(['--lowercase', path('cased.arpa'), MIXED]), await perplexity([path('cased.arpa'), LOWER]));
  assert.notEqual(await perplexity([path('cased.arpa'), MIXED]), await perplexity([path('cased.arpa'), LOWER]));
});

test('mixtures: components must read text the same way; those that do not say take the others\' options', async () => {
  await fails(['interpolate', path('lc.kblm'), path('cased.kblm'), '--weights', '0.5', '0.5', '-o', path('bad.json')], /lc\.kblm reads text with --lowercase but .*cased\.kblm with no --lowercase or --segment: a mixture needs one way of splitting text into words/);
  assert.ok(!existsSync(path('bad.json')));
  await ok(['interpolate', path('lc.kblm'), path('cased.arpa'), '--weights', '0.5', '0.5', '-o', path('with-foreign.json')]);
  assert.equal(await perplexity([path('with-foreign.json'), MIXED]), await perplexity([path('with-foreign.json'), LOWER]));
  // Components that say nothing, mixed with --lowercase: the mixture file remembers it.
  await ok(['interpolate', '--lowercase', path('cased.arpa'), path('cased.arpa'), '--weights', '0.5', '0.5', '-o', path('told.json')]);
  assert.equal(await perplexity([path('told.json'), MIXED]), await perplexity([path('told.json'), LOWER]));
  // A component replaced by one that reads text otherwise: the mixture no longer fits.
  const file = JSON.parse(readFileSync(path('with-foreign.json'), 'utf8')) as { components: { path: string }[] };
  file.components[0]!.path = 'cased.kblm';
  writeFileSync(path('replaced.json'), JSON.stringify(file));
  await fails(['ppl', path('replaced.json'), MIXED], /replaced\.json: the mixture was made for text read with --lowercase, but its components now read it with no --lowercase or --segment \(a component was replaced since/);
});

test('a model trained with --segment ja splits raw Japanese itself', async () => {
  const model = path('ja.kblm');
  await ok(['train', '--order', '3', '--segment', 'ja', '-o', model, join(fixtures, 'ja', 'train.txt')]);
  const test = join(fixtures, 'ja', 'test.txt');
  const told = await perplexity(['--segment', 'ja', model, test]);
  assert.equal(await perplexity([model, test]), told);
  assert.ok(told < 1000, `segmented: ${told}`);
  await fails(['ppl', '--segment', 'none', model, test], /ja\.kblm reads text with --segment ja .*; --segment none would read it differently/);
});

const kenlmBin = process.env.KENLM_BIN ?? join(homedir(), '.cache', 'kenlm', 'build', 'bin');
const kenlmSkip = existsSync(join(kenlmBin, 'query')) && existsSync(join(kenlmBin, 'build_binary')) ? false : `KenLM's query and build_binary not found in ${kenlmBin} (build KenLM there, or set KENLM_BIN)`;

test("KenLM's query and build_binary read an ARPA file with kotoba's text-options comment, and agree with kotoba", { skip: kenlmSkip }, async () => {
  const arpa = path('lc.arpa');
  const expected = await perplexity([arpa, MIXED]);
  const query = (model: string) => {
    const r = spawnSync(join(kenlmBin, 'query'), [model], { input: readFileSync(LOWER), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return Number(/Perplexity including OOVs:\s+(\S+)/.exec(r.stdout)![1]);
  };
  assert.ok(Math.abs(query(arpa) / expected - 1) < 1e-9, `query ${query(arpa)} vs kotoba ${expected}`);
  const binary = path('lc.kenlm');
  const b = spawnSync(join(kenlmBin, 'build_binary'), [arpa, binary], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  assert.ok(Math.abs(query(binary) / expected - 1) < 1e-9);
});

test('stored text options are untrusted input: anything but what kotoba writes is a one-line error naming the file', () => {
  assert.deepEqual(textOptionsFromJson(textOptionsToJson({ lowercase: true, segment: 'ja' }), 'm'), { lowercase: true, segment: 'ja' });
  assert.deepEqual(textOptionsFromJson(textOptionsToJson({}), 'm'), {});
  for (const [value, message] of [
    [null, /m: the model's text options are not an object/],
    [[true], /not an object/],
    [{ lowercase: true, segment: null, stem: true }, /unknown field 'stem'/],
    [{ lowercase: 'yes', segment: null }, /no lowercase: true\|false/],
    [{ lowercase: false, segment: 3 }, /no segment: null or a locale/],
    [{ lowercase: false, segment: 'x'.repeat(100) }, /no segment: null or a locale/],
    [{ lowercase: false, segment: 'not a locale!' }, /m: the model segments its text with --segment "not a locale!", 'not a locale!' is not a valid locale tag/],
  ] as [unknown, RegExp][]) {
    assert.throws(() => textOptionsFromJson(value, 'm'), (e: unknown) => e instanceof KotobaError && message.test(e.message) && !e.message.includes('\n'), JSON.stringify(value));
  }
  assert.throws(() => parseArpa('# kotoba text options: {"lowercase":tru\n\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t</s>\n\n\\end\\\n', { source: 'a.arpa' }), /a\.arpa:1: the kotoba text options are not valid JSON/);
  assert.throws(() => parseArpa('# kotoba text options: {"lowercase":1,"segment":null}\n\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t</s>\n\n\\end\\\n', { source: 'a.arpa' }), /a\.arpa:1: the model's text options have no lowercase/);
  // Other comments before \data\ are still ignored.
  assert.equal(parseArpa('# made by hand\n\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t</s>\n\n\\end\\\n').text, undefined);
});

test('loadModel gives the text options to library users too', async () => {
  for (const m of ['lc.arpa', 'lc.kblm', 'rnn.safetensors', 'mix.json']) assert.deepEqual((await loadModel(path(m))).text, { lowercase: true }, m);
  assert.deepEqual((await loadModel(path('cased.kblm'))).text, {});
  assert.equal((await loadModel(path('cased.arpa'))).text, undefined);
});
