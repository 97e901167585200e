/**
 * The main job of `npm start`, on the embedded WikiText-2 slice, in the lecture's order:
 * counts → n-gram models of orders 1 to 5 (higher N: more accurate, by less and less, and larger)
 * → a neural model trained briefly, alone and mixed with the 5-gram → the mixture choosing among
 * candidate translations, as the lecture's machine-translation example does. Every row says what
 * its model cost to train, in CPU seconds (the same on a busy machine); the neural models train a
 * fixed number of epochs, not for a time, so the perplexities are the same on every machine.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MixtureModel, tuneWeights } from '../apps/mixture.js';
import { scoreSentence, scoreTokens, type LanguageModel } from '../lm.js';
import { estimate } from '../ngram/estimate.js';
import { BackoffModel } from '../ngram/model.js';
import type { NeuralKind } from '../neural/model.js';
import { readCorpus } from '../node/corpus-files.js';
import type { Corpus } from '../text/corpus.js';
import { splitWords } from '../text/tokenize.js';
import { commonOptions, seedOption, threadsOf, threadsOptions, toJson, type Command } from './common.js';
import { DEFAULT_DEMO_FAMILIES, DEMO_MODELS, demoFamilies } from './demo-models.js';

/**
 * The folder of the embedded corpus, in the installed package: the first folder above this code
 * (dist/src/cli/ as compiled, dist/bin/ as bundled for the command line) that holds package.json.
 */
export function corpusDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'corpus');
}

/** Candidate translations of one source sentence, as an MT system would propose them. */
export const CANDIDATES = [
  'the game was released in japan in 2011 .',
  'the game was released at japan in 2011 .',
  'the game were release in japan on 2011 .',
  'game the japan in released was 2011 the .',
];

/** One row of the table. */
export interface DemoRow {
  model: string;
  family: 'ngram' | 'neural' | 'mixture';
  /** Test perplexity, OOVs included. */
  perplexity: number;
  /** n-grams or weights; for a mixture, its weights. */
  size: string;
  /**
   * CPU seconds of training (estimation for n-grams; 0 for a mixture: its components are counted
   * above): what the model costs, on a busy machine too (lmplz reports CPU time as well).
   */
  cpuSeconds: number;
  /** Epochs, for neural models. */
  epochs?: number;
}

export interface DemoResult {
  rows: DemoRow[];
  /** The sentences of {@link CANDIDATES}, most probable first, under `rankedBy`. */
  ranking: { sentence: string; log10: number }[];
  rankedBy: string;
}

export interface DemoOptions {
  /** N-gram orders 1 … maxOrder. */
  maxOrder: number;
  families: readonly NeuralKind[];
  seed: number;
  /** Threads of the neural kernels (the numbers do not depend on it). */
  threads: number | 'auto';
}

const thousands = (x: number): string => x.toLocaleString('en-US');
const seconds = (s: number): string => `${s.toFixed(1)} s`;

/** CPU seconds this process has used (user + system). */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * Runs the demo on lowercased `train`/`valid`/`test` texts, printing each line through `say` as
 * soon as it is known (the table is the point; the JSON is built from the returned rows).
 */
export async function runDemo(texts: { train: Corpus; valid: Corpus; test: Corpus }, options: DemoOptions, say: (line: string) => void, progress: (line: string) => void, warn: (line: string) => void): Promise<DemoResult> {
  const { train, valid, test } = texts;
  const rows: DemoRow[] = [];
  const row = (r: DemoRow) => {
    rows.push(r);
    const training = r.family === 'mixture' ? '' : r.epochs === undefined ? seconds(r.cpuSeconds) : `${r.epochs} epoch${r.epochs === 1 ? '' : 's'}, ${seconds(r.cpuSeconds)}`;
    say(`  ${r.model.padEnd(34)}${r.perplexity.toFixed(2).padStart(12)}${r.size.padStart(22)}${training.padStart(19)}`.trimEnd());
  };
  say(`  ${'model'.padEnd(34)}${'perplexity'.padStart(12)}${'size'.padStart(22)}${'training, CPU'.padStart(19)}`);

  say('Counts → n-grams: modified Kneser-Ney, orders 1 to ' + options.maxOrder);
  let top: BackoffModel | null = null;
  for (let order = 1; order <= options.maxOrder; order++) {
    const t0 = cpuSeconds();
    const tables = estimate(train, { order, log: { warn, info: progress } });
    top = BackoffModel.fromTables(tables);
    const cpu = cpuSeconds() - t0;
    const ngrams = tables.orders.reduce((sum, o) => sum + o.size, 0);
    row({ model: `${order}-gram`, family: 'ngram', perplexity: scoreTokens(top, test.tokens).perplexity, size: `${thousands(ngrams)} n-grams`, cpuSeconds: cpu });
  }
  const ngram = top!;
  const ngramName = `${options.maxOrder}-gram`;
  const ngramPerplexity = rows[rows.length - 1]!.perplexity;
  let best: { model: LanguageModel<unknown>; name: string } = { model: ngram, name: `the ${ngramName}` };

  if (options.families.length > 0) {
    say(`Neural models, trained briefly (a fixed number of epochs, seed ${options.seed})`);
    const trained = [];
    const { trainDemoModel } = await import('./neural-demo.js');
    for (const kind of options.families) {
      const t0 = cpuSeconds();
      const model = await trainDemoModel(DEMO_MODELS[kind], train, options.seed, options.threads, progress);
      const cpu = cpuSeconds() - t0;
      const { name, epochs } = DEMO_MODELS[kind];
      trained.push({ name, model });
      row({ model: name, family: 'neural', perplexity: scoreTokens(model, test.tokens).perplexity, size: `${thousands(model.params.count)} weights`, cpuSeconds: cpu, epochs });
    }
    // The classic use of a neural model: mixed with the n-gram model, weights tuned by EM on the
    // validation text (never on the test text).
    const mix = new MixtureModel([ngram, ...trained.map((t) => t.model)]);
    const tuned = mix.withWeights(tuneWeights(mix, valid.tokens).weights);
    const name = trained.length === 1 ? `${ngramName} + ${trained[0]!.name.split(/[,(]/)[0]!.trim()}` : `${ngramName} + ${trained.length} neural models`;
    say('Mixture: p = Σ λᵢ pᵢ, weights λ tuned by EM on the validation text');
    const mixed = scoreTokens(tuned, test.tokens).perplexity;
    row({ model: name, family: 'mixture', perplexity: mixed, size: `λ = ${Array.from(tuned.weights, (w) => w.toFixed(2)).join(', ')}`, cpuSeconds: 0 });
    best = { model: tuned, name: 'the mixture' };

    const neuralBest = Math.min(...rows.filter((r) => r.family === 'neural').map((r) => r.perplexity));
    const change = (100 * (ngramPerplexity - mixed)) / ngramPerplexity;
    const one = trained.length === 1;
    const [they, are, theyDo, lower] = one ? ['the neural model', 'is', 'it does', 'lowers'] : ['the neural models', 'are', 'they do', 'lower'];
    const helps = change > 0 ? `already ${lower} its perplexity by ${change.toFixed(0)}%` : `${one ? 'does' : 'do'} not lower its perplexity yet`;
    say('');
    if (neuralBest > ngramPerplexity) {
      say(`Trained this briefly on ${thousands(train.words)} words, ${they} ${are} far from converged: alone ${theyDo} not`);
      say(`reach the ${ngramName} (with more data and minutes of training ${theyDo}: README, Neural language models).`);
      say(`Mixed with the ${ngramName}, as the two kinds are used in practice, ${one ? 'it' : 'they'} ${helps}.`);
    } else {
      say(`Even trained this briefly, ${they} beat${one ? 's' : ''} the ${ngramName}; mixed with it, ${one ? 'it' : 'they'} ${helps}.`);
    }
  }

  say('');
  say(`Which candidate translation is the most plausible? (${best.name}; log10 probability, higher is better)`);
  const ranking = CANDIDATES.map((sentence) => {
    const ids = splitWords(sentence).map((w) => best.model.vocab.id(w));
    return { sentence, log10: scoreSentence(best.model, ids).total };
  }).sort((a, b) => b.log10 - a.log10);
  ranking.forEach((r, i) => say(`  ${i + 1}. ${r.log10.toFixed(3).padStart(9)}  ${r.sentence}`));
  return { rows, ranking, rankedBy: best.model.description };
}

export const demo: Command = {
  name: 'demo',
  summary: 'the main job on the embedded corpus: n-grams of orders 1-5, a neural model, their mixture, ranking candidates',
  usage: 'kotoba demo [--neural LIST]',
  positionals: { names: [], required: 0 },
  examples: ['kotoba demo', 'npm start', 'kotoba demo --neural all'],
  options: {
    neural: { type: 'string', value: 'LIST', description: `neural families to train: a comma list of ${Object.keys(DEMO_MODELS).join(', ')}, or all, or none (default ${DEFAULT_DEMO_FAMILIES.join(',')}; all takes about a minute more)` },
    ...seedOption,
    ...threadsOptions,
    ...commonOptions,
  },
  async run(parsed, io) {
    const o = parsed.options;
    const json = Boolean(o.json);
    const say = (line: string) => {
      if (!json) process.stdout.write(line + '\n');
    };
    const families = typeof o.neural === 'string' ? demoFamilies(o.neural) : DEFAULT_DEMO_FAMILIES;
    const started = performance.now();
    const dir = corpusDir();
    const train = await readCorpus(join(dir, 'wiki.train.txt'), { lowercase: true });
    const valid = await readCorpus(join(dir, 'wiki.valid.txt'), { lowercase: true, vocab: train.vocab });
    const test = await readCorpus(join(dir, 'wiki.test.txt'), { lowercase: true, vocab: train.vocab });
    say('kotoba demo: from counts to neural networks, on a slice of WikiText-2 (CC BY-SA 3.0, lowercased)');
    say(`training text ${thousands(train.words)} words; validation ${thousands(valid.words)}; test ${thousands(test.words)} (perplexity is on the test text); vocabulary ${thousands(train.vocab.size)}`);
    say('');
    const result = await runDemo({ train, valid, test }, { maxOrder: 5, families, seed: typeof o.seed === 'number' ? o.seed : 1, threads: threadsOf(o) }, say, io.progress, io.log.warn);
    const total = (performance.now() - started) / 1000;
    say('');
    say(`done in ${seconds(total)}. More: npx kotoba --help, and the README's examples, which run on corpus/.`);
    if (json) await io.stdout(toJson({ ...result, seconds: total }) + '\n');
  },
};
