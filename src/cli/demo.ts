/**
 * The main job of `npm start`: on the embedded WikiText-2 slice, train n-gram models of orders
 * 1 to 5, report held-out perplexity and the cost of each order, and rank candidate
 * translations by probability, as the lecture's machine-translation example does.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scoreSentence, scoreTokens, type LanguageModel } from '../lm.js';
import { estimate } from '../ngram/estimate.js';
import { BackoffModel } from '../ngram/model.js';
import { readCorpus } from '../node/corpus-files.js';
import { splitWords } from '../text/tokenize.js';
import { commonOptions, toJson, type Command } from './common.js';
import './neural-demo.js'; // the neural models join the table (demoHooks.extraModels)

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

export interface DemoHooks {
  /** Extra model families to train and compare (the neural models add themselves here). */
  extraModels?: (dir: string, log: (line: string) => void) => Promise<{ name: string; model: LanguageModel<unknown>; seconds: number }[]>;
}

export const demoHooks: DemoHooks = {};

export const demo: Command = {
  name: 'demo',
  summary: 'the main job on the embedded corpus: train, held-out perplexity, rank candidate sentences',
  usage: 'kotoba demo',
  examples: ['kotoba demo', 'npm start'],
  options: { ...commonOptions },
  async run(parsed, io) {
    const dir = corpusDir();
    const say = (line: string) => void process.stdout.write(line + '\n');
    const train = await readCorpus(join(dir, 'wiki.train.txt'), { lowercase: true });
    const test = await readCorpus(join(dir, 'wiki.test.txt'), { lowercase: true, vocab: train.vocab });
    say(`kotoba demo — WikiText-2 slice (CC BY-SA 3.0): ${train.words} training words, ${test.words} test words, vocabulary ${train.vocab.size}`);
    say('');
    say('n-gram models, interpolated modified Kneser-Ney (higher N: more accurate, and more costly):');
    say('  order   test perplexity   n-grams     training s');
    const rows: { name: string; perplexity: number; ngrams?: number; seconds: number }[] = [];
    let best: BackoffModel | null = null;
    for (let order = 1; order <= 5; order++) {
      const t0 = performance.now();
      const tables = estimate(train, { order, log: { warn: io.log.warn, info: io.progress } });
      const model = BackoffModel.fromTables(tables);
      const seconds = (performance.now() - t0) / 1000;
      const ppl = scoreTokens(model, test.tokens).perplexity;
      const ngrams = tables.orders.reduce((n, o) => n + o.size, 0);
      rows.push({ name: `${order}-gram`, perplexity: ppl, ngrams, seconds });
      say(`  ${String(order).padStart(5)}   ${ppl.toFixed(2).padStart(15)}   ${String(ngrams).padStart(9)}   ${seconds.toFixed(2).padStart(10)}`);
      if (order === 3) best = model;
    }
    if (demoHooks.extraModels) {
      say('');
      say('neural models (brief training on the same text):');
      for (const r of await demoHooks.extraModels(dir, say)) {
        const ppl = scoreTokens(r.model, test.tokens).perplexity;
        rows.push({ name: r.name, perplexity: ppl, seconds: r.seconds });
        say(`  ${r.name.padEnd(12)} test perplexity ${ppl.toFixed(2)} (${r.seconds.toFixed(1)} s)`);
      }
    }
    say('');
    say('Which candidate translation is most plausible? (3-gram model, log10 probability, higher is better)');
    const ranked = CANDIDATES.map((s) => {
      const ids = splitWords(s).map((w) => best!.vocab.id(w));
      return { sentence: s, log10: scoreSentence(best!, ids).total };
    }).sort((a, b) => b.log10 - a.log10);
    ranked.forEach((r, i) => say(`  ${i + 1}. ${r.log10.toFixed(3).padStart(9)}  ${r.sentence}`));
    if (parsed.options.json) await io.stdout(toJson({ models: rows, ranking: ranked }) + '\n');
  },
};
