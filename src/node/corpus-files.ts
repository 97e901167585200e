import { corpusFromLines, type Corpus, type CorpusOptions } from '../text/corpus.js';
import { readLines, type LineOptions } from './io.js';

/**
 * Reads a corpus (one sentence per line) from a plain or gzipped file, or stdin (`-`).
 *
 * @example
 * ```ts
 * import { readCorpus } from 'kotoba/node';
 * const train = await readCorpus('wiki.train.txt', { minCount: 2 });
 * const test = await readCorpus('wiki.test.txt', { vocab: train.vocab }); // unseen words → <unk>
 * const ja = await readCorpus('wiki-ja-train.txt', { segment: 'ja' }); // raw Japanese
 * const text8 = await readCorpus('text8', { maxLineBytes: 2 ** 27 }); // one line of 100 MB
 * ```
 */
export async function readCorpus(path: string, options: CorpusOptions & Pick<LineOptions, 'maxLineBytes'> = {}): Promise<Corpus> {
  const { maxLineBytes, ...corpus } = options;
  return corpusFromLines(readLines(path, maxLineBytes === undefined ? {} : { maxLineBytes }), { source: path, ...corpus });
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
export async function readWordList(path: string, options: Pick<LineOptions, 'maxLineBytes'> = {}): Promise<string[]> {
  const words: string[] = [];
  for await (const line of readLines(path, options)) {
    const end = line.search(/[ \t]/); // the first column only: no array of a long line's words
    const w = end < 0 ? line : line.slice(0, end);
    if (w) words.push(w);
  }
  return words;
}
