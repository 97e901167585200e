import { corpusFromLines, type Corpus, type CorpusOptions } from '../text/corpus.js';
import { readLines } from './io.js';

/** Reads a corpus (one sentence per line) from a plain or gzipped file, or stdin (`-`). */
export async function readCorpus(path: string, options: CorpusOptions = {}): Promise<Corpus> {
  return corpusFromLines(readLines(path), { source: path, ...options });
}

/** Reads a word list (one word per line; blank lines and a second column ignored). */
export async function readWordList(path: string): Promise<string[]> {
  const words: string[] = [];
  for await (const line of readLines(path)) {
    const w = line.split(/[ \t]/)[0];
    if (w) words.push(w);
  }
  return words;
}
