/** Test helpers for the apps tests: a hand-written model, chi-square, the embedded corpus. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOS, EOS, UNK, Vocabulary, type LanguageModel, type Scored } from '../src/index.js';
import { repoRoot } from './helpers.js';

/** Lines of a file of the embedded corpus (corpus/wiki.*.txt). */
export function corpusLines(name: 'train' | 'valid' | 'test', from = 0, to?: number): string[] {
  const text = readFileSync(join(repoRoot, 'corpus', `wiki.${name}.txt`), 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.slice(from, to);
}

/**
 * A fixed bigram table over <unk>, <s>, </s>, a, b, c: p(w | previous word). It has no
 * `distribution` and no `scoreSentence`, so the apps must fall back to `score`.
 * Rows: previous word (id); columns: next word (id); BOS column 0; each row sums to 1.
 */
export const TABLE: Record<number, number[]> = {
  //          unk   <s>  </s>   a     b     c
  [UNK]: [0.05, 0, 0.25, 0.3, 0.2, 0.2],
  [BOS]: [0.05, 0, 0.05, 0.5, 0.3, 0.1],
  [3]: [0.1, 0, 0.1, 0.1, 0.6, 0.1],
  [4]: [0.02, 0, 0.48, 0.1, 0.1, 0.3],
  [5]: [0.05, 0, 0.3, 0.25, 0.25, 0.15],
};

export class TableModel implements LanguageModel<number> {
  readonly vocab = Vocabulary.fromWords(['a', 'b', 'c']);
  readonly description = 'hand-written bigram table';
  calls = 0;
  constructor() {
    this.vocab.closed = true;
  }
  begin(): number {
    return BOS;
  }
  score(state: number, word: number): Scored<number> {
    this.calls++;
    const p = TABLE[state]![word]!;
    return { log10: Math.log10(p), next: word === EOS ? BOS : word };
  }
}

/**
 * Pearson's chi-square statistic of observed counts against expected probabilities, with bins
 * whose expected count is under 5 pooled into one (the usual validity rule). Returns the
 * statistic and the degrees of freedom.
 */
export function chiSquare(observed: ArrayLike<number>, probs: ArrayLike<number>): { stat: number; df: number } {
  let n = 0;
  for (let i = 0; i < observed.length; i++) n += observed[i]!;
  let stat = 0;
  let bins = 0;
  let poolO = 0;
  let poolE = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = n * probs[i]!;
    if (e === 0) {
      if (observed[i]! > 0) return { stat: Infinity, df: 1 }; // drawn though impossible
      continue;
    }
    if (e < 5) {
      poolO += observed[i]!;
      poolE += e;
      continue;
    }
    stat += (observed[i]! - e) ** 2 / e;
    bins++;
  }
  if (poolE > 0) {
    stat += (poolO - poolE) ** 2 / poolE;
    bins++;
  }
  return { stat, df: bins - 1 };
}

/**
 * The upper critical value of chi-square with `df` degrees of freedom at significance 0.001
 * (Wilson–Hilferty: accurate to about 1% for df ≥ 3; z = 3.0902 is the normal 0.999 quantile).
 */
export function chiSquareCritical001(df: number): number {
  const z = 3.0902;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}
