// End to end in a real browser: the demo page (web/) in Debian's headless Chromium, driven by
// playwright-core. The page trains the same model as the CLI on the same text (in its Web
// Worker), and what it shows must equal the CLI's output for the same model and text: per-word
// log10, sentence total and perplexity (`score`, `ppl`), the top next words (`next`), the
// ranking of candidates (`rerank`), and seeded samples (`generate`). Unrounded values are
// read from data-* attributes. It also loads the CLI's ARPA file (and a small neural model) through the file chooser,
// trains on raw Japanese with --segment ja, reads text the way a loaded model was trained to
// (--lowercase), and saves screenshots to test-output/. Before that, the first view as a new user
// meets it: no unknown word they did not type, a legend for every mark, nothing cut or clipped at
// desktop and phone widths, and a bad order said in the page's words.
// The server sends COOP/COEP, so the page is cross-origin isolated and the neural model runs on
// every core.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { segmentWords } from '../src/text/segment.js';
import { fixtures, repoRoot, runCli, tempDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps trying to reach Google's services,
// whose connections this machine's closed network refuses.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SENTENCE = 'the game was released in japan in 2011 .';
const CANDIDATES = [
  'the game was released at japan in 2011 .',
  'the game were release in japan on 2011 .',
  'the game was released in japan in 2011 .',
  'game the japan in released was 2011 the .',
];
const JA_SENTENCE = '私は本を読むのが好きだ。';
const screenshotDir = join(repoRoot, 'test-output');

const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser test`;

/** Starts scripts/serve-web.mjs on a free port; resolves with its URL (its first line). */
function serve(): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'serve-web.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`serve-web.mjs exited with ${code}: ${err}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
      if (m) resolve({ url: m[1]!, child });
      else reject(new Error(`serve-web.mjs printed no URL: ${line}`));
    });
  });
}

/**
 * Equal up to the last bits of a double. Log10 scores and totals come from the same float32
 * tables and float32 sums, and are compared exactly; perplexities and probabilities go through
 * Math.pow(10, x), whose last bit differs between V8 versions (Chromium's and Node's): seen
 * 0.011573203372236584 in the page against 0.011573203372236586 in Node.
 */
function close(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-14 * Math.max(Math.abs(a), Math.abs(b));
}

interface CliWord {
  word: string;
  log10: number;
}

/** Window widths the page must fit: a desktop, a common phone, the narrowest phone. */
const WIDTHS = [1280, 375, 320];

/**
 * What does not fit at the current window width: anything wider than the window, a select
 * option whose text is cut, a log that hides lines. Run in the page.
 */
function layoutProblems(): string[] {
  const problems: string[] = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) problems.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${width} px window`);
  for (const el of document.querySelectorAll<HTMLElement>('header, section, #words .w, button, input, select, textarea, #next li, #ranked li')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > width + 0.5)) problems.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} '${(el.textContent ?? '').slice(0, 30)}' spans ${r.left.toFixed(0)}–${r.right.toFixed(0)} px`);
  }
  // A select shows its option in the box less the padding and Chromium's arrow (about 20 px).
  const ctx = document.createElement('canvas').getContext('2d')!;
  for (const select of document.querySelectorAll('select')) {
    const style = getComputedStyle(select);
    ctx.font = style.font;
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
    for (const option of select.options) {
      if (ctx.measureText(option.text).width > room) problems.push(`#${select.id}: '${option.text}' is cut`);
    }
  }
  const log = document.getElementById('log')!;
  if (log.scrollHeight > log.clientHeight + 1) problems.push(`#log shows ${log.clientHeight} of its ${log.scrollHeight} px`);
  return problems;
}

/** What the CLI says about a model and a text: per-word scores, perplexity, candidate totals. */
async function cliNumbers(model: string, sentence: string, candidates: string[], textFlags: string[]) {
  const s = await runCli(['score', '--words', '--json', ...textFlags, model], { input: sentence + '\n' });
  assert.equal(s.code, 0, s.stderr);
  const scored = JSON.parse(s.stdout) as { total: number; words: CliWord[] };
  const p = await runCli(['ppl', '--json', ...textFlags, model], { input: sentence + '\n' });
  assert.equal(p.code, 0, p.stderr);
  // The candidates as one group of the plain rerank format.
  const c = await runCli(['rerank', '--json', ...textFlags, model], { input: candidates.join('\n') + '\n' });
  assert.equal(c.code, 0, c.stderr);
  const ranking = (JSON.parse(c.stdout) as { candidates: { sentence: string; log10: number }[] }).candidates.map((x) => ({ sentence: x.sentence, total: x.log10 }));
  assert.equal(ranking.length, candidates.length);
  return { scored, perplexity: (JSON.parse(p.stdout) as { perplexity: number }).perplexity, ranking };
}

test('the demo page in headless Chromium shows the CLI numbers', { skip, timeout: 120_000 }, async () => {
  assert.ok(existsSync(join(repoRoot, 'web', 'dist', 'main.js')), 'web/dist/main.js is missing: run `npm run build` (it runs build:web)');
  const { chromium } = await import('playwright-core');
  const { dir, cleanup } = tempDir();
  const profile = mkdtempSync(join(tmpdir(), 'kotoba-chromium-'));
  const { url, child } = await serve();
  let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | null = null;
  try {
    // The CLI side: the same model and text.
    const arpa = join(dir, 'wiki3.arpa');
    const t = await runCli(['train', '--order', '3', '--smoothing', 'mkn', '-o', arpa, 'corpus/wiki.train.txt']);
    assert.equal(t.code, 0, t.stderr);
    const cli = await cliNumbers(arpa, SENTENCE, CANDIDATES, []);
    const nx = await runCli(['next', '--json', '-k', '10', arpa, SENTENCE]);
    assert.equal(nx.code, 0, nx.stderr);
    const cliNext = (JSON.parse(nx.stdout) as { next: { word: string; probability: number }[] }).next;
    assert.equal(cliNext.length, 10);
    const generated = async (seed: number) => {
      const g = await runCli(['generate', '--json', '--seed', String(seed), '--count', '3', '--prefix', 'the game', '--max-words', '40', arpa]);
      assert.equal(g.code, 0, g.stderr);
      return g.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { words: string[] }).words.join(' '));
    };
    const cliSamples7 = await generated(7);

    // A fresh profile each run (launchPersistentContext passes it as --user-data-dir).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(url);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'the demo page is cross-origin isolated (COOP/COEP headers)');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);

    const serial = async () => Number(await page.getAttribute('#model-info', 'data-serial'));
    const waitModel = async (after: number) => {
      await page.waitForFunction(
        (n) => {
          const el = document.getElementById('model-info')!;
          return el.dataset.state === 'error' || (el.dataset.state === 'ready' && Number(el.dataset.serial) > n);
        },
        after,
        { timeout: 60_000 },
      );
      const state = await page.getAttribute('#model-info', 'data-state');
      assert.equal(state, 'ready', `model failed: ${await page.textContent('#model-info')}`);
      return serial();
    };
    /** Types `sentence` and reads what the page shows for it. */
    const readPage = async (sentence: string, n: number) => {
      await page.fill('#sentence', sentence);
      await page.waitForSelector(`#words[data-for="${n}:${sentence}"]`, { timeout: 30_000 });
      return page.evaluate(() => {
        const num = (id: string) => Number(document.getElementById(id)!.dataset.value);
        return {
          words: [...document.querySelectorAll<HTMLElement>('#words .w')].map((e) => ({ word: e.dataset.word!, log10: Number(e.dataset.log10) })),
          total: num('total'),
          perplexity: num('perplexity'),
          next: [...document.querySelectorAll<HTMLElement>('#next li')].map((e) => ({ word: e.dataset.word!, probability: Number(e.dataset.probability) })),
          ranked: [...document.querySelectorAll<HTMLElement>('#ranked li')].map((e) => ({ sentence: e.dataset.sentence!, total: Number(e.dataset.total) })),
        };
      });
    };
    const sameAsCli = (shown: Awaited<ReturnType<typeof readPage>>, expect: Awaited<ReturnType<typeof cliNumbers>>, what: string) => {
      assert.deepEqual(shown.words.map((w) => w.word), expect.scored.words.map((w) => w.word), `${what}: words`);
      assert.deepEqual(shown.words.map((w) => w.log10), expect.scored.words.map((w) => w.log10), `${what}: per-word log10`);
      assert.equal(shown.total, expect.scored.total, `${what}: total log10`);
      assert.ok(close(shown.perplexity, expect.perplexity), `${what}: perplexity ${shown.perplexity} vs ${expect.perplexity}`);
      assert.deepEqual(shown.ranked, expect.ranking, `${what}: ranking`);
    };

    // 0. The first view: the default model (trained on load) and the default sentence and
    //    candidates. No word is unknown to the model (the user typed nothing yet); the legend
    //    explains the dashed box of an unknown word; everything fits, at every width.
    const first = await waitModel(0);
    const defaultSentence = await page.inputValue('#sentence');
    await page.waitForSelector(`#words[data-for="${first}:${defaultSentence}"]`);
    assert.equal(await page.locator('#words .w').count(), defaultSentence.split(' ').length + 1, 'the words and </s>');
    assert.deepEqual(await page.$$eval('#words .w.oov', (els) => els.map((e) => e.textContent)), [], 'unknown words in the default sentence');
    assert.deepEqual(await page.$$eval('#ranked li', (els) => els.map((e) => (e as HTMLElement).dataset.oov)), ['0', '0', '0', '0'], 'unknown words in the default candidates');
    assert.match((await page.textContent('#legend-oov')) ?? '', /does not know, scored as <unk>/);
    const outline = (selector: string) => page.$eval(selector, (e) => getComputedStyle(e).outlineStyle);
    assert.equal(await outline('#legend-oov .oov'), 'dashed', 'the legend shows the mark of an unknown word');
    mkdirSync(screenshotDir, { recursive: true });
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      assert.deepEqual(await page.evaluate(layoutProblems), [], `at ${width} px`);
      if (width < 500) await page.screenshot({ path: join(screenshotDir, `browser-demo-${width}px.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });

    // A bad order: said in the page's words (no CLI flag), and the page says which model it
    // still uses (the worker keeps the previous one).
    const description = (await page.textContent('#model-info'))!.split(';')[0]!;
    await page.fill('#order', '0');
    await page.click('#train');
    await page.waitForSelector('#model-info[data-state=error]');
    const refused = (await page.textContent('#model-info')) ?? '';
    assert.match(refused, /^Order N must be a whole number from 1 to 10, not '0' — the page still uses the previous model: /);
    assert.ok(refused.endsWith(description), `${refused} should name ${description}`);
    assert.doesNotMatch(refused, /--/, 'a command-line flag in the page');
    assert.equal(await serial(), first);
    // A file that is no model: the worker's error, and the same word on the model in use.
    await page.setInputFiles('#model-file', join(repoRoot, 'corpus', 'README.md'));
    await page.waitForFunction(() => document.getElementById('model-info')!.dataset.state === 'error' && !/^Order/.test(document.getElementById('model-info')!.textContent!));
    const notModel = (await page.textContent('#model-info')) ?? '';
    assert.match(notModel, /README\.md.* — the page still uses the previous model: /);
    assert.ok(notModel.endsWith(description), notModel);
    assert.equal(await serial(), first);

    // 1. Train order 3 modified Kneser-Ney on corpus/wiki.train.txt in the worker. (The page
    //    trains a default model on load; this is an explicit second training.)
    const before = await serial();
    await page.selectOption('#source', 'corpus/wiki.train.txt');
    await page.fill('#order', '3');
    await page.selectOption('#smoothing', 'mkn');
    await page.selectOption('#segment', '');
    await page.fill('#candidates', CANDIDATES.join('\n'));
    await page.click('#train');
    const trained = await waitModel(before);
    const log = (await page.textContent('#log')) ?? '';
    for (const stage of ['1/6 counting', '2/6', '3/6', '4/6', '5/6', '6/6']) assert.ok(log.includes(stage), `progress log lacks '${stage}':\n${log}`);
    assert.match((await page.textContent('#model-info')) ?? '', /3-gram modified Kneser-Ney/);
    // The page kept drawing frames while the worker trained: it stayed responsive.
    assert.ok(Number(await page.getAttribute('#model-info', 'data-frames')) >= 2, 'no animation frames during training');

    const shown = await readPage(SENTENCE, trained);
    sameAsCli(shown, cli, 'trained in the page');
    assert.ok(shown.next.length === 10, `next words: ${JSON.stringify(shown.next)}`);
    assert.deepEqual(shown.next.map((n) => n.word), cliNext.map((n) => n.word));
    for (let i = 0; i < cliNext.length; i++) {
      assert.ok(close(shown.next[i]!.probability, cliNext[i]!.probability), `p(${cliNext[i]!.word}): ${shown.next[i]!.probability} vs ${cliNext[i]!.probability}`);
    }
    assert.equal(shown.ranked[0]!.sentence, SENTENCE); // the fluent candidate wins

    // 2. Seeded samples: those of `kotoba generate` with the same seed, prefix and limits.
    const samples = async (seed: string) => {
      await page.fill('#seed', seed);
      await page.fill('#count', '3');
      await page.fill('#prefix', 'the game');
      await page.evaluate(() => delete document.getElementById('samples')!.dataset.seed);
      await page.click('#sample');
      await page.waitForSelector(`#samples[data-seed="${seed}"]`);
      return page.$$eval('#samples li', (els) => els.map((e) => (e as HTMLElement).dataset.words ?? ''));
    };
    const s7 = await samples('7');
    assert.deepEqual(s7, cliSamples7);
    for (const s of s7) assert.ok(s.startsWith('the game '), s);
    assert.notDeepEqual(await samples('8'), s7);
    assert.deepEqual(await samples('7'), s7);
    await page.fill('#sentence', SENTENCE);
    await page.waitForSelector(`#words[data-for="${trained}:${SENTENCE}"]`);
    await page.screenshot({ path: join(screenshotDir, 'browser-demo.png'), fullPage: true });

    // 3. Load the CLI's ARPA file through the file chooser: the same numbers again.
    await page.setInputFiles('#model-file', arpa);
    const loaded = await waitModel(trained);
    sameAsCli(await readPage(SENTENCE, loaded), cli, 'loaded from the CLI ARPA file');

    // 4. Raw Japanese with segmentation, trained from a file the user chooses.
    const jaTrain = join(fixtures, 'ja', 'train.txt');
    const jaModel = join(dir, 'ja.kblm');
    const jt = await runCli(['train', '--order', '3', '--segment', 'ja', '-o', jaModel, jaTrain]);
    assert.equal(jt.code, 0, jt.stderr);
    const jaCandidates = ['私は本を読むのが好きだ。', '本は私を読むのが好きだ。', '好きだ読むの本を私は。'];
    const jaCli = await cliNumbers(jaModel, JA_SENTENCE, jaCandidates, ['--segment', 'ja']);
    assert.deepEqual(jaCli.scored.words.map((w) => w.word).slice(0, -1), segmentWords(JA_SENTENCE, 'ja'));
    await page.selectOption('#source', 'file');
    await page.setInputFiles('#train-file', jaTrain);
    await page.selectOption('#segment', 'ja');
    await page.fill('#candidates', jaCandidates.join('\n'));
    await page.click('#train');
    const ja = await waitModel(loaded);
    sameAsCli(await readPage(JA_SENTENCE, ja), jaCli, 'Japanese with --segment ja');
    await page.screenshot({ path: join(screenshotDir, 'browser-demo-ja.png'), fullPage: true });

    // 5. A neural model (a small RNN the CLI trained for a few steps) through the file chooser:
    //    the same wasm kernels score it in the page as in Node.
    const rnn = join(dir, 'rnn.safetensors');
    const rt = await runCli(['train', '--model', 'rnn', '--hidden', '16', '--max-steps', '20', '--seed', '3', '-o', rnn, 'corpus/wiki.valid.txt']);
    assert.equal(rt.code, 0, rt.stderr);
    const rnnCli = await cliNumbers(rnn, SENTENCE, CANDIDATES, []);
    await page.fill('#candidates', CANDIDATES.join('\n'));
    await page.setInputFiles('#model-file', rnn);
    const neural = await waitModel(ja);
    assert.match((await page.textContent('#model-info')) ?? '', /RNN/);
    // On every core (worker threads on a shared memory), with the numbers of the CLI.
    assert.equal(Number(await page.getAttribute('#model-info', 'data-threads')), cores, 'neural kernels on every core');
    assert.match((await page.textContent('#model-info')) ?? '', new RegExp(`${cores} threads?\\)`));
    const rnnShown = await readPage(SENTENCE, neural);
    assert.deepEqual(rnnShown.words.map((w) => w.word), rnnCli.scored.words.map((w) => w.word), 'neural: words');
    rnnShown.words.forEach((w, i) => assert.ok(Math.abs(w.log10 - rnnCli.scored.words[i]!.log10) <= 1e-6, `neural: log10 of ${w.word}: ${w.log10} vs ${rnnCli.scored.words[i]!.log10}`));
    assert.ok(Math.abs(rnnShown.perplexity - rnnCli.perplexity) <= 1e-6 * rnnCli.perplexity, `neural: perplexity ${rnnShown.perplexity} vs ${rnnCli.perplexity}`);
    assert.deepEqual(rnnShown.ranked.map((r) => r.sentence), rnnCli.ranking.map((r) => r.sentence), 'neural: ranking');

    // 6. A model trained with --lowercase, loaded while the page's lowercase box is unchecked:
    //    the page reads text the model's way and shows it, as the CLI does without being told.
    const lcModel = join(dir, 'wiki3-lc.kblm');
    const lt = await runCli(['train', '--order', '3', '--lowercase', '-o', lcModel, 'corpus/wiki.train.txt']);
    assert.equal(lt.code, 0, lt.stderr);
    const MIXED = 'The game was released in Japan in 2011 .';
    const lcCli = await cliNumbers(lcModel, MIXED, CANDIDATES, []);
    assert.equal(lcCli.scored.words.filter((w) => w.word === 'japan').length, 1, 'the CLI lowercases for this model');
    await page.uncheck('#lowercase');
    await page.setInputFiles('#model-file', lcModel);
    const lc = await waitModel(neural);
    assert.equal(await page.isChecked('#lowercase'), true, "the page shows the model's own setting");
    sameAsCli(await readPage(MIXED, lc), lcCli, 'a --lowercase model on mixed-case text');

    // 7. A Transformer (stream context, its key/value cache as the state): the same numbers too.
    const tf = join(dir, 'transformer.safetensors');
    const tt = await runCli(['train', '--model', 'transformer', '--embed', '16', '--hidden', '16', '--layers', '1', '--bptt', '8', '--context', 'stream', '--max-steps', '10', '--seed', '3', '-o', tf, 'corpus/wiki.valid.txt']);
    assert.equal(tt.code, 0, tt.stderr);
    const tfCli = await cliNumbers(tf, SENTENCE, CANDIDATES, []);
    await page.setInputFiles('#model-file', tf);
    const transformer = await waitModel(neural);
    assert.match((await page.textContent('#model-info')) ?? '', /Transformer/);
    const tfShown = await readPage(SENTENCE, transformer);
    tfShown.words.forEach((w, i) => assert.ok(Math.abs(w.log10 - tfCli.scored.words[i]!.log10) <= 1e-6, `transformer: log10 of ${w.word}: ${w.log10} vs ${tfCli.scored.words[i]!.log10}`));
    assert.ok(Math.abs(tfShown.perplexity - tfCli.perplexity) <= 1e-6 * tfCli.perplexity, `transformer: perplexity ${tfShown.perplexity} vs ${tfCli.perplexity}`);
    assert.deepEqual(tfShown.ranked.map((r) => r.sentence), tfCli.ranking.map((r) => r.sentence), 'transformer: ranking');

    assert.deepEqual(errors, [], 'errors in the page');
  } finally {
    await context?.close();
    child.kill();
    rmSync(profile, { recursive: true, force: true });
    cleanup();
  }
});
