import { corpusFromLines, type Corpus, type CorpusOptions } from '../text/corpus.js';
import { readLines } from './io.js';

/**
 * Reads a corpus (one sentence per line) from a plain or gzipped file, or stdin (`-`).
 *
 * @example
 * ```ts
 * import { readCorpus } from 'kotoba/node';
 * const train = await readCorpus('wiki.train.txt', { minCount: 2 });
 * const test = await readCorpus('wiki.test.txt', { vocab: train.vocab }); // unseen words → <unk>
 * const ja = await readCorpus('wiki-ja-train.txt', { segment: 'ja' }); // raw Japanese
 * ```
 */
export async function readCorpus(path: string, options: CorpusOptions = {}): Promise<Corpus> {
  return corpusFromLines(readLines(path), { source: path, ...options });
}

/**
 * Reads a word list (one word per line; blank lines and a second column ignored).
 *
 * @example
 * ```ts
 * import { readCorpus, readWordList } from 'kotoba/node';
 * const vocab = await readWordList('vocab.txt');
 * const corpus = await readCorpus('train.txt', { fixed: vocab }); // a closed vocabulary
 * ```
 */
export async function readWordList(path: string): Promise<string[]> {
  const words: string[] = [];
  for await (const line of readLines(path)) {
    const w = line.split(/[ \t]/)[0];
    if (w) words.push(w);
  }
  return words;
}
