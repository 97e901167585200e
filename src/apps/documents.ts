/**
 * Documents in, scores out: the CCNet use of a language model. Each document is a JSON object
 * whose text field may hold several lines, each a sentence scored as `ppl` scores a line; the
 * document gets its totals as four added fields, and may be kept or dropped by its perplexity:
 *
 *   perplexity    10^(−log10_total / tokens), OOVs included (null when a token has p = 0)
 *   log10_total   Σ log10 p over its sentences, `</s>` included
 *   tokens        words + one `</s>` per sentence
 *   oov           words outside the model's vocabulary
 *
 * The JSON lines of a file are scored in batches (`jsonlBatch`, on worker threads in the CLI);
 * `scoreDocuments` does the same to any iterable of objects.
 */
import { KotobaError, at } from '../errors.js';
import { PerplexityAccumulator, scoreWordIds, type LanguageModel } from '../lm.js';
import { forEachLine, lineTokenizer, type LineTokenizer, type TextBatch } from '../text/byte-tokenizer.js';
import { withPartial } from './score-text.js';
import type { TokenizeOptions } from '../text/tokenize.js';

/** Which documents to score, and which to keep. */
export interface DocumentOptions {
  /** The field that holds the text (default `text`). */
  field?: string;
  /** Keep only documents whose perplexity is at most this. */
  maxPerplexity?: number;
  /** Keep only documents whose perplexity is at least this. */
  minPerplexity?: number;
}

/** The fields added to each document. */
export interface DocumentScore {
  perplexity: number;
  log10_total: number;
  tokens: number;
  oov: number;
}

/** The names of the added fields. */
export const DOCUMENT_FIELDS = ['perplexity', 'log10_total', 'tokens', 'oov'] as const;

const encoder = new TextEncoder();
let scratch = new Uint8Array(1 << 16);
let log10 = new Float64Array(256);

/**
 * The totals of a text whose lines are sentences (`lineNo` names it in error messages).
 *
 * @example
 * ```ts
 * import { lineTokenizer, scoreDocumentText, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * const { perplexity, tokens } = scoreDocumentText(lm, lineTokenizer(lm.vocab), 'The cat sat.\nIt slept.', 1);
 * ```
 */
export function scoreDocumentText(lm: LanguageModel<unknown>, tokenizer: LineTokenizer, text: string, lineNo: number, acc = new PerplexityAccumulator()): DocumentScore {
  // UTF-8 bytes of the text (at most 3 per UTF-16 unit), then each line as a sentence.
  if (3 * text.length > scratch.length) scratch = new Uint8Array(3 * text.length + 1024);
  const { written } = encoder.encodeInto(text, scratch);
  const before = { log10: acc.log10Sum, tokens: acc.tokens, oov: acc.oov };
  forEachLine({ bytes: scratch.subarray(0, written), firstLine: lineNo }, (start, end) => {
    const n = tokenizer.line(scratch, start, end, lineNo);
    if (n > log10.length) log10 = new Float64Array(2 * n);
    const words = tokenizer.sentence(n);
    scoreWordIds(lm, words, log10);
    acc.addSentence(words, log10, n);
  });
  // An empty text is one empty sentence, as an empty line is.
  if (written === 0) {
    const n = tokenizer.line(scratch, 0, 0, lineNo);
    scoreWordIds(lm, tokenizer.sentence(n), log10);
    acc.addSentence(tokenizer.ids, log10, n);
  }
  const log10Total = acc.log10Sum - before.log10;
  const tokens = acc.tokens - before.tokens;
  return { perplexity: Math.pow(10, -log10Total / tokens), log10_total: log10Total, tokens, oov: acc.oov - before.oov };
}

/** Whether a document with these scores is kept. */
export function keepDocument(score: DocumentScore, options: DocumentOptions): boolean {
  const p = score.perplexity;
  if (options.maxPerplexity !== undefined && !(p <= options.maxPerplexity)) return false;
  if (options.minPerplexity !== undefined && !(p >= options.minPerplexity)) return false;
  return true;
}

/** The text of document `doc` (line `lineNo`), or a KotobaError saying what is wrong with it. */
function textOf(doc: unknown, field: string, source: string | undefined, lineNo: number): string {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw badDocument(source, lineNo, 'not a JSON object');
  const text = (doc as Record<string, unknown>)[field];
  if (!Object.prototype.hasOwnProperty.call(doc, field)) throw badDocument(source, lineNo, `no "${field}" field`);
  if (typeof text !== 'string') throw badDocument(source, lineNo, `the "${field}" field is not a string`);
  return text;
}

function badDocument(source: string | undefined, lineNo: number, what: string): KotobaError {
  return new KotobaError(`${at(source, lineNo)}${what}`, 'give one JSON object per line, or --skip-bad to skip such lines');
}

function jsonNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : 'null';
}

/**
 * Scores documents given as objects (from any iterable, sync or async), yielding each kept one
 * with the four fields added (in a copy).
 *
 * @example
 * ```ts
 * import { scoreDocuments, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * declare const docs: AsyncIterable<{ url: string; text: string }>;
 * for await (const doc of scoreDocuments(lm, docs, { maxPerplexity: 1000 })) console.log(doc.url, doc.perplexity);
 * ```
 */
export async function* scoreDocuments<T extends object>(
  lm: LanguageModel<unknown>,
  docs: AsyncIterable<T> | Iterable<T>,
  options: DocumentOptions & { text?: TokenizeOptions; source?: string } = {},
): AsyncGenerator<T & DocumentScore> {
  const field = options.field ?? 'text';
  const tokenizer = lineTokenizer(lm.vocab, options.text ?? {}, options.source);
  let n = 0;
  for await (const doc of docs) {
    n++;
    const score = scoreDocumentText(lm, tokenizer, textOf(doc, field, options.source, n), n);
    if (keepDocument(score, options)) yield { ...doc, ...score };
  }
}

/** What a batch of JSON lines gave: the output lines, and counts. */
export interface JsonlPart {
  text: string;
  documents: number;
  kept: number;
  bad: number;
  /** The first bad line's message (when `skipBad`). */
  firstBad?: string;
}

/**
 * Scores a batch of JSON lines (one object per line; blank lines are skipped): each kept document
 * is written back as it was, with the fields added before its closing brace (or, when it has a
 * field of the same name, re-serialized with it replaced).
 *
 * @example
 * ```ts
 * import { jsonlBatch, lineTokenizer, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * const bytes = new TextEncoder().encode('{"id":1,"text":"The cat sat."}\n');
 * jsonlBatch(lm, lineTokenizer(lm.vocab), { bytes, firstLine: 1 }, {}).text; // '{"id":1,"text":"The cat sat.","perplexity":…}\n'
 * ```
 */
export function jsonlBatch(
  lm: LanguageModel<unknown>,
  tokenizer: LineTokenizer,
  batch: TextBatch,
  options: DocumentOptions & { skipBad?: boolean; source?: string },
): JsonlPart {
  const field = options.field ?? 'text';
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const part: JsonlPart = { text: '', documents: 0, kept: 0, bad: 0 };
  withPartial(() => part.text, () => forEachLine(batch, (start, end, lineNo) => {
    let line: string;
    let doc: unknown;
    let score: DocumentScore;
    try {
      try {
        line = decoder.decode(batch.bytes.subarray(start, end)).trim();
      } catch {
        throw new KotobaError(`${at(options.source, lineNo)}invalid UTF-8`, 'convert the file to UTF-8, e.g. with iconv');
      }
      if (line === '') return;
      try {
        doc = JSON.parse(line);
      } catch {
        throw badDocument(options.source, lineNo, 'not valid JSON');
      }
      score = scoreDocumentText(lm, tokenizer, textOf(doc, field, options.source, lineNo), lineNo);
    } catch (e) {
      if (!(options.skipBad && e instanceof KotobaError)) throw e;
      part.bad++;
      part.firstBad ??= e.message;
      return;
    }
    part.documents++;
    if (!keepDocument(score, options)) return;
    part.kept++;
    const o = doc as Record<string, unknown>;
    if (DOCUMENT_FIELDS.some((f) => Object.prototype.hasOwnProperty.call(o, f))) {
      part.text += JSON.stringify({ ...o, ...score }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n';
      return;
    }
    const added = `"perplexity":${jsonNumber(score.perplexity)},"log10_total":${jsonNumber(score.log10_total)},"tokens":${score.tokens},"oov":${score.oov}`;
    const body = line.slice(0, -1).trimEnd();
    part.text += `${body}${body.endsWith('{') ? '' : ','}${added}}\n`;
  }));
  return part;
}

/**
 * The perplexity of lines from any iterable (sync or async), each a sentence, counted as
 * `kotoba ppl` counts it.
 *
 * @example
 * ```ts
 * import { perplexityOfLines, type LanguageModel } from 'kotoba';
 * import { readLines } from 'kotoba/node';
 * declare const lm: LanguageModel;
 * const acc = await perplexityOfLines(lm, readLines('wiki.test.txt'));
 * console.log(acc.perplexity, acc.perplexityExcludingOov, acc.oov);
 * ```
 */
export async function perplexityOfLines(lm: LanguageModel<unknown>, lines: AsyncIterable<string> | Iterable<string>, text: TokenizeOptions = {}): Promise<PerplexityAccumulator> {
  const tokenizer = lineTokenizer(lm.vocab, text);
  const acc = new PerplexityAccumulator();
  let n = 0;
  for await (const line of lines) scoreDocumentText(lm, tokenizer, line, ++n, acc);
  return acc;
}

/**
 * Each line's totals (a line is a sentence): what `kotoba score` prints, and more.
 *
 * @example
 * ```ts
 * import { scoreLines, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * for await (const s of scoreLines(lm, ['the cat sat', 'sat cat the'])) console.log(s.log10_total, s.perplexity);
 * ```
 */
export async function* scoreLines(lm: LanguageModel<unknown>, lines: AsyncIterable<string> | Iterable<string>, text: TokenizeOptions = {}): AsyncGenerator<DocumentScore> {
  const tokenizer = lineTokenizer(lm.vocab, text);
  let n = 0;
  for await (const line of lines) yield scoreDocumentText(lm, tokenizer, line, ++n);
}
