/**
 * Reranking candidate sentences with a language model: the lecture's use of a language model,
 * choosing among candidate translations the one whose words are most probable.
 *
 * Input is groups of candidates, in one of two formats:
 *
 * - **n-best** (Moses): `id ||| sentence ||| features ||| score`, one candidate per line, the lines
 *   of one id together. Fields after the score (alignments) are kept. Blank lines are ignored.
 * - **plain**: one candidate per line, groups separated by one or more blank lines.
 *
 * Each candidate gets log10 p(sentence) (with `</s>`, `<s>` as context only), and its ranking
 * score is
 *
 *     score = lm                          (default)
 *     score = λ · lm + existing score     (with a weight λ; n-best only)
 *
 * where lm is log10 p(sentence), or log10 p(sentence) / tokens with `normalize` (tokens = words
 * + 1 for `</s>`, as perplexity counts them). Candidates are sorted by score, highest first;
 * equal scores keep the input order.
 */
import { KotobaError, at } from '../errors.js';
import { EOS, scoreWordIds, UNK, type LanguageModel } from '../lm.js';
import { splitWords } from '../text/tokenize.js';
import { formatFloat32 } from '../util/float32.js';

export type CandidateFormat = 'nbest' | 'plain';

export interface Candidate {
  /** Position in its group, in input order (0-based). */
  index: number;
  sentence: string;
  /** The existing score (n-best: the fourth field). */
  score?: number;
  /** The feature field of an n-best line, as written. */
  features?: string;
  /** Fields after the score (n-best), as written. */
  rest?: string[];
  /** Line number in the input (1-based). */
  line: number;
}

export interface CandidateGroup {
  /** The n-best id, or the group's number (from 0) in the plain format. */
  id: string;
  candidates: Candidate[];
}

export interface ReaderOptions {
  /** `nbest`, `plain` or `auto` (default): n-best when the first non-blank line contains `|||`. */
  format?: CandidateFormat | 'auto';
  /** File name for error messages. */
  source?: string;
}

const SEPARATOR = '|||';

/**
 * Reads candidate groups line by line, so n-best lists of any length stream through: `push`
 * returns a group as soon as it is complete, `finish` the last one.
 *
 * @example
 * ```ts
 * // runs
 * import { CandidateReader, type CandidateGroup } from 'kotoba';
 * const reader = new CandidateReader({ format: 'auto' });
 * const groups: CandidateGroup[] = [];
 * for (const line of ['the cat sat', 'cat the sat', '', 'a dog ran']) {
 *   const g = reader.push(line);
 *   if (g) groups.push(g);
 * }
 * const last = reader.finish();
 * if (last) groups.push(last);
 * if (reader.format !== 'plain' || groups.length !== 2) throw new Error('two plain groups');
 * ```
 */
export class CandidateReader {
  /** The format, once known (after the first non-blank line in `auto`). */
  format: CandidateFormat | undefined;
  private readonly source: string | undefined;
  private lineNo = 0;
  private current: CandidateGroup | null = null;
  private groups = 0;
  private readonly seen = new Set<string>();

  constructor(options: ReaderOptions = {}) {
    const f = options.format ?? 'auto';
    if (f !== 'auto' && f !== 'nbest' && f !== 'plain') {
      throw new KotobaError(`unknown candidate format '${String(f)}'`, 'use nbest, plain or auto');
    }
    this.format = f === 'auto' ? undefined : f;
    this.source = options.source;
  }

  /** Adds one line; returns the group it completed, if any. */
  push(rawLine: string): CandidateGroup | null {
    this.lineNo++;
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const blank = line.trim() === '';
    if (this.format === undefined) {
      if (blank) return null;
      this.format = line.includes(SEPARATOR) ? 'nbest' : 'plain';
    }
    return this.format === 'nbest' ? this.pushNbest(line, blank) : this.pushPlain(line, blank);
  }

  /** The last group, or null when there is none left. */
  finish(): CandidateGroup | null {
    const g = this.current;
    this.current = null;
    return g;
  }

  private pushPlain(line: string, blank: boolean): CandidateGroup | null {
    if (blank) return this.finish();
    if (!this.current) this.current = { id: String(this.groups++), candidates: [] };
    const c = this.current.candidates;
    c.push({ index: c.length, sentence: line.trim(), line: this.lineNo });
    return null;
  }

  private pushNbest(line: string, blank: boolean): CandidateGroup | null {
    if (blank) return null;
    const fields = line.split(SEPARATOR).map((f) => f.trim());
    const where = at(this.source, this.lineNo);
    if (fields.length < 4) {
      throw new KotobaError(
        `${where}not an n-best line: ${fields.length === 1 ? 'no |||' : `${fields.length} fields`}, expected 'id ||| sentence ||| features ||| score'`,
        line.includes(SEPARATOR) ? 'fix the line, or read the file with --format plain' : 'read a file of plain candidates with --format plain',
      );
    }
    const [id, sentence, features, scoreText, ...rest] = fields as [string, string, string, string, ...string[]];
    if (!/^\d+$/.test(id)) throw new KotobaError(`${where}n-best id '${id}' is not a whole number`, "each line starts with the sentence's number, e.g. '0 ||| …'");
    const score = Number(scoreText);
    if (scoreText === '' || !Number.isFinite(score)) {
      throw new KotobaError(`${where}n-best score '${scoreText}' is not a number`, "the fourth field is the system's total score, e.g. '-12.5'");
    }
    let done: CandidateGroup | null = null;
    if (!this.current || this.current.id !== id) {
      if (this.seen.has(id)) {
        throw new KotobaError(`${where}n-best id ${id} appears again after other ids`, 'keep the lines of each id together: sort the file by id, keeping the order within an id');
      }
      this.seen.add(id);
      done = this.current;
      this.current = { id, candidates: [] };
    }
    const c = this.current.candidates;
    const cand: Candidate = { index: c.length, sentence, score, features, line: this.lineNo };
    if (rest.length > 0) cand.rest = rest;
    c.push(cand);
    return done;
  }
}

/**
 * All candidate groups of a text (or of lines), for inputs that fit in memory.
 *
 * @example
 * ```ts
 * // runs
 * import { parseCandidates } from 'kotoba';
 * const { format, groups } = parseCandidates('0 ||| a b ||| f= 1 ||| -2\n0 ||| b a ||| f= 2 ||| -3\n');
 * if (format !== 'nbest' || groups[0]!.candidates.length !== 2) throw new Error('one n-best group of two');
 * ```
 */
export function parseCandidates(input: string | Iterable<string>, options: ReaderOptions = {}): { format: CandidateFormat; groups: CandidateGroup[] } {
  const reader = new CandidateReader(options);
  const groups: CandidateGroup[] = [];
  const lines = typeof input === 'string' ? input.split('\n') : input;
  for (const line of lines) {
    const g = reader.push(line);
    if (g) groups.push(g);
  }
  const last = reader.finish();
  if (last) groups.push(last);
  return { format: reader.format ?? 'plain', groups };
}

export interface RerankOptions {
  /** λ: rank by λ · lm + the existing score (n-best candidates only). Absent: by lm alone. */
  weight?: number;
  /** Use log10 p per token (words + `</s>`) instead of the sentence's log10 p. */
  normalize?: boolean;
  /** How a sentence becomes words (default: split on spaces and tabs). */
  tokenize?: (sentence: string) => string[];
  /** File name for error messages. */
  source?: string;
}

export interface RankedCandidate extends Candidate {
  /** Rank in the group, from 1. */
  rank: number;
  /** log10 p(sentence) under the model, `</s>` included. */
  log10: number;
  /** Tokens scored: words + 1 for `</s>`. */
  tokens: number;
  /** Words outside the model's vocabulary. */
  oov: number;
  /** The model's part of the score: `log10`, or `log10 / tokens` when normalised. */
  lm: number;
  /** The ranking score (see the module comment). */
  total: number;
}

/**
 * The group's candidates scored and sorted, best first; equal scores keep the input order.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, parseCandidates, rerankGroup } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']), { order: 2 }));
 * const { groups } = parseCandidates('cat the sat\nthe cat sat\n');
 * const ranked = rerankGroup(model, groups[0]!);
 * if (ranked[0]!.sentence !== 'the cat sat') throw new Error('the fluent candidate first');
 * console.log(ranked.map((c) => [c.rank, c.log10, c.sentence]));
 * ```
 */
export function rerankGroup(lm: LanguageModel<unknown>, group: CandidateGroup, options: RerankOptions = {}): RankedCandidate[] {
  const { weight, normalize = false } = options;
  const tokenize = options.tokenize ?? splitWords;
  if (weight !== undefined && !Number.isFinite(weight)) throw new KotobaError(`the weight must be a number, not ${weight}`);
  const scored: RankedCandidate[] = group.candidates.map((c) => {
    const words = tokenize(c.sentence);
    const ids = new Uint32Array(words.length + 1); // the words, then </s>
    let oov = 0;
    for (let i = 0; i < words.length; i++) {
      ids[i] = lm.vocab.id(words[i]!);
      if (ids[i] === UNK) oov++;
    }
    ids[words.length] = EOS;
    const log10 = scoreWordIds(lm, ids, new Float64Array(ids.length));
    const tokens = ids.length;
    const lmPart = normalize ? log10 / tokens : log10;
    let total = lmPart;
    if (weight !== undefined) {
      if (c.score === undefined) {
        throw new KotobaError(
          `${at(options.source, c.line)}this candidate has no existing score to weigh against`,
          '--weight needs n-best input (id ||| sentence ||| features ||| score); plain candidates are ranked by the model alone',
        );
      }
      // λ · 0 would give NaN for a zero-probability candidate; it is simply the worst.
      total = log10 === -Infinity ? (weight === 0 ? c.score : -Infinity) : weight * lmPart + c.score;
    }
    return { ...c, rank: 0, log10, tokens, oov, lm: lmPart, total };
  });
  // Array.prototype.sort is stable: equal totals keep the input order.
  scored.sort((a, b) => (a.total > b.total ? -1 : a.total < b.total ? 1 : 0));
  scored.forEach((c, i) => (c.rank = i + 1));
  return scored;
}

/** How `rerank` writes ranked groups. */
export interface RankedFormat {
  /** The input's format: n-best output stays an n-best list. */
  format: CandidateFormat;
  /** One JSON object per group. */
  json?: boolean;
  /** Only the K best of each group. */
  top?: number;
}

/** Scores for text output: the shortest float32 digits, as KenLM prints its numbers. */
function num(x: number): string {
  return formatFloat32(Math.fround(x));
}

/** Non-finite numbers as null (JSON has no Infinity). */
function jsonOf(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

/**
 * Groups ranked and written as `kotoba rerank` writes them: the ranking score, log10 p and the
 * sentence (plain, groups separated by blank lines; `first` says whether these groups start
 * the output), an n-best list with a `kotoba=` feature, or JSON.
 *
 * @example
 * ```ts
 * import { parseCandidates, rerankText, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * const { format, groups } = parseCandidates('cat the sat\nthe cat sat\n');
 * process.stdout.write(rerankText(lm, groups, {}, { format }, true));
 * ```
 */
export function rerankText(lm: LanguageModel<unknown>, groups: readonly CandidateGroup[], options: RerankOptions, out: RankedFormat, first: boolean): string {
  let text = '';
  for (const group of groups) {
    const ranked = rerankGroup(lm, group, options).slice(0, out.top ?? Infinity);
    if (out.json) text += jsonOf({ id: group.id, candidates: ranked.map(jsonCandidate) }) + '\n';
    else if (out.format === 'nbest') for (const c of ranked) text += nbestLine(group.id, c);
    else {
      if (!first) text += '\n';
      for (const c of ranked) text += `${num(c.total)}\t${num(c.log10)}\t${c.sentence}\n`;
    }
    first = false;
  }
  return text;
}

/** A Moses n-best line again, with the model's score added as the feature `kotoba=` and the new total. */
function nbestLine(id: string, c: RankedCandidate): string {
  const features = `${c.features ?? ''}${c.features ? ' ' : ''}kotoba= ${num(c.lm)}`;
  const rest = c.rest ? c.rest.map((r) => ` ||| ${r}`).join('') : '';
  return `${id} ||| ${c.sentence} ||| ${features} ||| ${num(c.total)}${rest}\n`;
}

function jsonCandidate(c: RankedCandidate): Record<string, unknown> {
  const out: Record<string, unknown> = {
    rank: c.rank,
    index: c.index,
    sentence: c.sentence,
    score: c.total,
    log10: c.log10,
    lm: c.lm,
    tokens: c.tokens,
    oov: c.oov,
  };
  if (c.score !== undefined) out.system_score = c.score;
  if (c.features !== undefined) out.features = c.features;
  return out;
}
