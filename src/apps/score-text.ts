/**
 * Scoring text given as UTF-8 bytes, a batch of whole lines at a time: what `ppl` and `score` do
 * to a file, on one thread or on many (each batch is scored on its own; the results are taken in
 * input order). Each function is plain and synchronous, for any `LanguageModel`.
 */
import { KotobaError } from '../errors.js';
import { PerplexityAccumulator, scoreWordIds, type Context, type LanguageModel, type PerplexityRecord } from '../lm.js';
import { formatFloat32 } from '../util/float32.js';
import { ByteTokenizer, forEachLine, lineTokenizer, type LineTokenizer, type TextBatch } from '../text/byte-tokenizer.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { tokenizer as textTokenizer } from '../text/tokenize.js';
import { UNK } from '../text/vocabulary.js';
import { jsonlBatch, type DocumentOptions, type JsonlPart } from './documents.js';
import { rerankText, type CandidateGroup, type RankedFormat } from './rerank.js';

export type { TextBatch };

/** Scratch for scoring one sentence at a time: log10 p and n-gram lengths per word. */
class Scratch {
  log10 = new Float64Array(256);
  ngram = new Uint8Array(256);
  fit(n: number): void {
    if (n > this.log10.length) {
      this.log10 = new Float64Array(2 * n);
      this.ngram = new Uint8Array(2 * n);
    }
  }
}
const scratch = new Scratch();

/** Scores one line's words (ids after `<s>`, `</s>` last): log10 p into `log10`, n-gram lengths into `ngram`. */
export type LineScorer = (words: Uint32Array, log10: Float64Array, ngram?: Uint8Array) => void;

/**
 * How lines are scored in `context`: each from `<s>` (sentence), or each continuing from the
 * state after the line before (stream: a scorer with state, for one thread taking lines in order).
 */
export function lineScorer(lm: LanguageModel<unknown>, context: Context = 'sentence'): LineScorer {
  if (context === 'sentence') return (words, log10, ngram) => void scoreWordIds(lm, words, log10, ngram);
  const scoreStream = lm.scoreStream?.bind(lm);
  if (!scoreStream) throw new KotobaError(`the ${lm.description} scores each line on its own`, '--context stream needs a model whose state spans lines: rnn, gru, lstm or transformer');
  let state: unknown = null;
  return (words, log10, ngram) => {
    state = scoreStream(state, words, log10);
    ngram?.fill(0, 0, words.length);
  };
}

/**
 * The perplexity totals of a batch, recorded so that batches scored anywhere merge into exactly
 * one thread's sums (`PerplexityAccumulator.mergeRecord`).
 *
 * @example
 * ```ts
 * import { lineTokenizer, PerplexityAccumulator, perplexityOfBatch, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * const bytes = new TextEncoder().encode('私 は 本 だ\n猫 だ\n');
 * const acc = new PerplexityAccumulator();
 * acc.mergeRecord(perplexityOfBatch(lm, lineTokenizer(lm.vocab), { bytes, firstLine: 1 }));
 * console.log(acc.perplexity);
 * ```
 */
export function perplexityOfBatch(lm: LanguageModel<unknown>, tokenizer: LineTokenizer, batch: TextBatch, score?: LineScorer): PerplexityRecord {
  // The model's own fast path, for text split on spaces and tabs, in sentence context.
  if (!score && lm.perplexityOfBytes && tokenizer instanceof ByteTokenizer) {
    const record = lm.perplexityOfBytes(batch.bytes, batch.firstLine, tokenizer.source);
    if (record) return record;
  }
  const acc = PerplexityAccumulator.recording();
  forEachLine(batch, (start, end, lineNo) => {
    const n = tokenizer.line(batch.bytes, start, end, lineNo);
    scratch.fit(n);
    const words = tokenizer.sentence(n);
    if (score) score(words, scratch.log10);
    else scoreWordIds(lm, words, scratch.log10);
    acc.addSentence(words, scratch.log10, n);
  });
  return acc.takeRecord();
}

/** How `score` prints each line. */
export interface ScoreFormat {
  /** Per word: `word=id ngram log10`, as KenLM's query prints it (with `json`: a list). */
  words?: boolean;
  json?: boolean;
}

/** Non-finite numbers as JSON null (JSON has no Infinity). */
export function jsonNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : 'null';
}

/**
 * The output of `score` for a batch: one line per input line, its log10 probability (`</s>`
 * included), or the per-word detail.
 *
 * @example
 * ```ts
 * import { lineTokenizer, scoreBatch, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * const bytes = new TextEncoder().encode('私 は 本 だ\n');
 * process.stdout.write(scoreBatch(lm, lineTokenizer(lm.vocab), { bytes, firstLine: 1 }, { words: true }));
 * ```
 */
export function scoreBatch(lm: LanguageModel<unknown>, tokenizer: LineTokenizer, batch: TextBatch, format: ScoreFormat = {}, score: LineScorer = lineScorer(lm)): string {
  let out = '';
  withPartial(() => out, () => forEachLine(batch, (start, end, lineNo) => {
    const n = tokenizer.line(batch.bytes, start, end, lineNo);
    scratch.fit(n);
    const ids = tokenizer.ids;
    const words = tokenizer.sentence(n);
    score(words, scratch.log10, scratch.ngram);
    let total = 0;
    let oov = 0;
    for (let i = 0; i < n; i++) {
      total = Math.fround(total + scratch.log10[i]!);
      if (ids[i] === UNK) oov++;
    }
    if (!format.words && !format.json) {
      out += `${formatFloat32(total)}\n`;
      return;
    }
    const surface = format.words ? tokenizer.words(batch.bytes, n) : [];
    const word = (i: number) => (i < n - 1 ? surface[i]! : '</s>');
    if (format.json) {
      out += `{"total":${jsonNumber(total)},"oov":${oov}`;
      if (format.words) {
        const list: string[] = [];
        for (let i = 0; i < n; i++) {
          const g = scratch.ngram[i]!;
          list.push(`{"word":${JSON.stringify(word(i))},"log10":${jsonNumber(scratch.log10[i]!)},"ngram":${g ? g : 'null'},"oov":${ids[i] === UNK}}`);
        }
        out += `,"words":[${list.join(',')}]`;
      }
      out += '}\n';
      return;
    }
    // KenLM query's layout: word=id ngram log10, tab-separated, then the total.
    for (let i = 0; i < n; i++) out += `${word(i)}=${ids[i]} ${scratch.ngram[i]} ${formatFloat32(Math.fround(scratch.log10[i]!))}\t`;
    out += `Total: ${formatFloat32(total)} OOV: ${oov}\n`;
  }));
  return out;
}

/** A KotobaError that stopped a batch, with the output of the lines before the bad one. */
export type PartialError = KotobaError & { partial?: string };

/** Runs `work`; a KotobaError it throws carries `output()` so far, to be written before it. */
export function withPartial(output: () => string, work: () => void): void {
  try {
    work();
  } catch (e) {
    if (e instanceof KotobaError) (e as PartialError).partial = output();
    throw e;
  }
}

/** Groups of candidate sentences to rank (`rerank`), and whether they start the output. */
export interface GroupBatch {
  groups: CandidateGroup[];
  first: boolean;
}

/** A batch of work: lines of text, or groups of candidates. */
export type Batch = TextBatch | GroupBatch;

/** What is done to each batch: what `ppl`, `score` and `rerank` do. */
export type BatchJob =
  | { kind: 'ppl'; context?: Context }
  | { kind: 'score'; format: ScoreFormat; context?: Context }
  | { kind: 'rerank'; weight?: number; normalize?: boolean; output: RankedFormat }
  | { kind: 'jsonl'; documents: DocumentOptions; skipBad: boolean };

/** The result of a job on one batch. */
export type BatchResult = PerplexityRecord | string | JsonlPart;

/**
 * The function that runs `job` on batches with model `lm`: the same on the main thread and in
 * worker threads, so that results never depend on the number of threads.
 *
 * @example
 * ```ts
 * import { batchRunner, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * const run = batchRunner(lm, { lowercase: true }, 'text.txt', { kind: 'score', format: {} });
 * run({ bytes: new TextEncoder().encode('The cat\n'), firstLine: 1 }); // '-7.1234…\n'
 * ```
 */
export function batchRunner(lm: LanguageModel<unknown>, text: TokenizeOptions, source: string, job: BatchJob): (batch: Batch) => BatchResult {
  switch (job.kind) {
    case 'ppl': {
      const tokenizer = lineTokenizer(lm.vocab, text, source);
      const score = job.context === 'stream' ? lineScorer(lm, 'stream') : undefined;
      return (batch) => perplexityOfBatch(lm, tokenizer, batch as TextBatch, score);
    }
    case 'score': {
      const tokenizer = lineTokenizer(lm.vocab, text, source);
      const score = lineScorer(lm, job.context);
      return (batch) => scoreBatch(lm, tokenizer, batch as TextBatch, job.format, score);
    }
    case 'jsonl': {
      const tokenizer = lineTokenizer(lm.vocab, text, source);
      const options = { ...job.documents, skipBad: job.skipBad, source };
      return (batch) => jsonlBatch(lm, tokenizer, batch as TextBatch, options);
    }
    case 'rerank': {
      const options = { tokenize: textTokenizer(text), source, ...(job.weight !== undefined ? { weight: job.weight } : {}), normalize: job.normalize === true };
      return (batch) => rerankText(lm, (batch as GroupBatch).groups, options, job.output, (batch as GroupBatch).first);
    }
  }
}
