/**
 * The main job of `npm start`, on the embedded WikiText-2 slice: the lecture's progression from
 * counts to recurrent networks in one table — n-gram models of orders 1 to 5 (higher N: more
 * accurate, and more costly) and each neural family trained briefly — with held-out perplexity,
 * size and training time; then candidate translations ranked by probability, as the lecture's
 * machine-translation example does.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scoreSentence, scoreTokens } from '../lm.js';
import { estimate } from '../ngram/estimate.js';
import { BackoffModel } from '../ngram/model.js';
import { readCorpus } from '../node/corpus-files.js';
import { splitWords } from '../text/tokenize.js';
import { commonOptions, threadsOf, threadsOptions, toJson, type Command } from './common.js';
import { neuralDemoModels } from './neural-demo.js';

/** The folder of the embedded corpus, relative to the installed package. */
export function corpusDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'corpus');
}

/** Candidate translations of one source sentence, as an MT system would propose them. */
export const CANDIDATES = [
  'the game was released in japan in 2011 .',
  'the game was released at japan in 2011 .',
  'the game were release in japan on 2011 .',
  'game the japan in released was 2011 the .',
];

export const demo: Command = {
  name: 'demo',
  summary: 'the main job on the embedded corpus: train, held-out perplexity, rank candidate sentences',
  usage: 'kotoba demo',
  examples: ['kotoba demo', 'npm start'],
  options: { ...threadsOptions, ...commonOptions },
  async run(parsed, io) {
    const json = Boolean(parsed.options.json);
    const say = (line: string) => {
      if (!json) process.stdout.write(line + '\n');
    };
    const dir = corpusDir();
    const train = await readCorpus(join(dir, 'wiki.train.txt'), { lowercase: true });
    const test = await readCorpus(join(dir, 'wiki.test.txt'), { lowercase: true, vocab: train.vocab });
    const n = (x: number) => x.toLocaleString('en-US');
    say('kotoba demo: from counts to recurrent networks, on a slice of WikiText-2 (CC BY-SA 3.0)');
    say(`training text ${n(train.words)} words, held-out text ${n(test.words)} words (lowercased), vocabulary ${n(train.vocab.size)}`);
    say('');
    say(`  ${'model'.padEnd(34)}${'test perplexity'.padStart(16)}${'size'.padStart(26)}${'training'.padStart(11)}`);
    const rows: { model: string; perplexity: number; size: string; seconds: number }[] = [];
    const row = (model: string, perplexity: number, size: string, seconds: number) => {
      rows.push({ model, perplexity, size, seconds });
      say(`  ${model.padEnd(34)}${perplexity.toFixed(2).padStart(16)}${size.padStart(26)}${`${seconds.toFixed(1)} s`.padStart(11)}`);
    };
    let trigram: BackoffModel | null = null;
    for (let order = 1; order <= 5; order++) {
      const t0 = performance.now();
      const tables = estimate(train, { order, log: { warn: io.log.warn, info: io.progress } });
      const model = BackoffModel.fromTables(tables);
      const seconds = (performance.now() - t0) / 1000;
      const ngrams = tables.orders.reduce((sum, o) => sum + o.size, 0);
      row(`${order}-gram, modified Kneser-Ney`, scoreTokens(model, test.tokens).perplexity, `${n(ngrams)} n-grams`, seconds);
      if (order === 3) trigram = model;
    }
    // Neural models: a fixed seed and a time budget each, so their numbers depend on the machine.
    for (const r of await neuralDemoModels(train, io.progress, threadsOf(parsed.options))) {
      row(r.name, scoreTokens(r.model, test.tokens).perplexity, `${n(r.parameters)} weights`, r.seconds);
    }
    say('');
    say('Which candidate translation is the most plausible? (3-gram model; log10 probability, higher is better)');
    const ranked = CANDIDATES.map((sentence) => {
      const ids = splitWords(sentence).map((w) => trigram!.vocab.id(w));
      return { sentence, log10: scoreSentence(trigram!, ids).total };
    }).sort((a, b) => b.log10 - a.log10);
    ranked.forEach((r, i) => say(`  ${i + 1}. ${r.log10.toFixed(3).padStart(9)}  ${r.sentence}`));
    if (json) await io.stdout(toJson({ models: rows, ranking: ranked }) + '\n');
  },
};
