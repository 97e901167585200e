/**
 * A corpus as one flat stream of word ids: each sentence is `<s> w1 … wk </s>`. Built from lines
 * (one sentence per line; an empty line is an empty sentence, scored as just `</s>`), with the
 * vocabulary options users expect: a minimum count, a maximum size, or a fixed word list.
 */
import { KotobaError, at } from '../errors.js';
import { wordVisitor, type TokenizeOptions, type WordVisitor } from './tokenize.js';
import { BOS, BOS_WORD, EOS, EOS_WORD, UNK, Vocabulary } from './vocabulary.js';

/** A tokenized corpus: its vocabulary and all its sentences as one stream of word ids. */
export interface Corpus {
  vocab: Vocabulary;
  /** `<s> w1 … wk </s> <s> …`: one BOS and one EOS per sentence. */
  tokens: Uint32Array;
  sentences: number;
  /** Number of words, `</s>` not included. */
  words: number;
  /** How its lines were split into words (kept by the models trained on it). */
  text?: TokenizeOptions;
}

/** Which words a corpus keeps; the others become `<unk>`. */
export interface VocabularyOptions {
  /** Words seen fewer times than this become `<unk>`. */
  minCount?: number;
  /** Keep at most this many words (the most frequent; the three specials included). */
  maxSize?: number;
  /** Use exactly these words; every other word becomes `<unk>`. */
  fixed?: Iterable<string>;
}

/** Options for building a corpus: tokenizing, vocabulary, and names for error messages. */
export interface CorpusOptions extends TokenizeOptions, VocabularyOptions {
  /** File name for error messages. */
  source?: string;
  /** Start from this vocabulary (closed: words outside it become `<unk>`), e.g. a model's. */
  vocab?: Vocabulary;
}

/**
 * Grows a Uint32Array as ids are appended (doubling, so appending is amortised O(1)).
 *
 * @example
 * ```ts
 * // runs
 * import { IdBuffer } from 'kotoba';
 * const ids = new IdBuffer(4);
 * for (let id = 0; id < 10; id++) ids.push(id);
 * ids.view(); // the 10 ids, without a copy (valid until the next push)
 * ids.length = 0; // empty again, keeping the memory
 * ```
 */
export class IdBuffer {
  data: Uint32Array;
  length = 0;
  constructor(capacity = 1 << 16) {
    this.data = new Uint32Array(Math.max(1, capacity));
  }
  push(id: number): void {
    if (this.length === this.data.length) {
      const bigger = new Uint32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = id;
  }
  /** A copy of the ids. */
  result(): Uint32Array {
    return this.data.slice(0, this.length);
  }
  /** The ids in place (valid until the next push). */
  view(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

/**
 * Accumulates sentences into a corpus. Sentence markers already in the text are accepted where
 * they belong (`<s>` first, `</s>` last) and dropped; anywhere else they are an error.
 *
 * @example
 * ```ts
 * // runs
 * import { CorpusBuilder } from 'kotoba';
 * const builder = new CorpusBuilder({ minCount: 2, source: 'chat.txt' });
 * for (const line of ['a b c', 'a b', 'b d']) builder.addLine(line);
 * builder.addWords(['<s>', 'a', 'c', '</s>']); // the markers at the ends are dropped
 * const corpus = builder.finish(); // vocabulary <unk> <s> </s> a b c: d, seen once, is <unk>
 * ```
 */
export class CorpusBuilder {
  readonly vocab: Vocabulary;
  private readonly ids = new IdBuffer();
  private readonly eachWord: WordVisitor;
  private lineNo = 0;
  private source: string | undefined;
  sentences = 0;
  words = 0;

  constructor(private readonly options: CorpusOptions = {}) {
    this.eachWord = wordVisitor(options);
    this.source = options.source;
    if (options.vocab) {
      this.vocab = options.vocab;
      this.vocab.closed = true;
    } else if (options.fixed) {
      this.vocab = Vocabulary.fromWords(options.fixed);
      this.vocab.closed = true;
    } else {
      this.vocab = new Vocabulary();
    }
  }

  /**
   * Names the file that the following lines come from (for error messages), restarting the line
   * count: one builder, and one vocabulary, over several files.
   *
   * @example
   * ```ts
   * import { CorpusBuilder } from 'kotoba';
   * declare const files: Map<string, string[]>;
   * const builder = new CorpusBuilder();
   * for (const [name, lines] of files) {
   *   builder.beginSource(name);
   *   for (const line of lines) builder.addLine(line); // errors say name:line
   * }
   * ```
   */
  beginSource(source: string): void {
    this.source = source;
    this.lineNo = 0;
  }

  /**
   * Adds one line of text as a sentence.
   *
   * @example
   * ```ts
   * import { CorpusBuilder } from 'kotoba';
   * declare const lines: Iterable<string>;
   * const builder = new CorpusBuilder({ lowercase: true });
   * for (const line of lines) builder.addLine(line);
   * ```
   */
  addLine(line: string): void {
    this.lineNo++;
    this.addSentence((visit) => this.eachWord(line, visit));
  }

  /** Adds one sentence given as words. */
  addWords(words: readonly string[]): void {
    this.addSentence((visit) => {
      for (const w of words) visit(w);
    });
  }

  /**
   * One sentence from its words in order, visited without an array (a line may hold millions):
   * a `<s>` first and a `</s>` last are dropped, so each word is added once the next one shows
   * it is not the last.
   */
  private addSentence(words: (visit: (word: string) => void) => void): void {
    this.ids.push(BOS);
    let first = true;
    let held: string | undefined;
    let count = 0;
    words((w) => {
      if (first) {
        first = false;
        if (w === BOS_WORD) return;
      }
      if (held !== undefined) {
        this.addWord(held);
        count++;
      }
      held = w;
    });
    if (held !== undefined && held !== EOS_WORD) {
      this.addWord(held);
      count++;
    }
    this.ids.push(EOS);
    this.words += count;
    this.sentences++;
  }

  private addWord(word: string): void {
    const id = this.vocab.add(word);
    if (id === BOS || id === EOS) {
      throw new KotobaError(
        `${at(this.source, this.lineNo || undefined)}${word} inside a sentence`,
        `<s> may only open a line and </s> only close it; remove or rename it`,
      );
    }
    this.ids.push(id);
  }

  /** Number of tokens (`<s>` and `</s>` included) added since the last `takeTokens`. */
  get pendingTokens(): number {
    return this.ids.length;
  }

  /**
   * The tokens added so far, leaving the builder empty but keeping its vocabulary and line
   * count: for scoring a long stream in batches with a model's (closed) vocabulary.
   *
   * @example
   * ```ts
   * import { CorpusBuilder, scoreTokens, type LanguageModel } from 'kotoba';
   * declare const lm: LanguageModel<unknown>;
   * declare const lines: string[];
   * const builder = new CorpusBuilder({ ...lm.text, vocab: lm.vocab }); // the model's text options, its words
   * for (const line of lines) builder.addLine(line);
   * const ppl = scoreTokens(lm, builder.takeTokens()).perplexity;
   * ```
   */
  takeTokens(): Uint32Array {
    const tokens = this.ids.result();
    this.ids.length = 0;
    return tokens;
  }

  /**
   * The corpus, with min-count / max-size applied (renumbering ids in first-appearance order).
   *
   * @example
   * ```ts
   * import { CorpusBuilder } from 'kotoba';
   * declare const builder: CorpusBuilder;
   * const { vocab, tokens, sentences, words } = builder.finish();
   * console.log(`${sentences} sentences, ${words} words, ${vocab.size} word types`);
   * ```
   */
  finish(): Corpus {
    let tokens = this.ids.result();
    let vocab = this.vocab;
    const { minCount = 0, maxSize } = this.options;
    if (!vocab.closed && (minCount > 1 || maxSize !== undefined)) {
      ({ tokens, vocab } = restrictVocabulary(tokens, vocab, minCount, maxSize));
    }
    const { lowercase, segment } = this.options;
    const text: TokenizeOptions = {};
    if (lowercase) text.lowercase = true;
    if (segment) text.segment = segment;
    return { vocab, tokens, sentences: this.sentences, words: this.words, text };
  }
}

/** Maps rare words to `<unk>` and renumbers the rest, keeping first-appearance order. */
function restrictVocabulary(
  tokens: Uint32Array,
  vocab: Vocabulary,
  minCount: number,
  maxSize: number | undefined,
): { tokens: Uint32Array; vocab: Vocabulary } {
  const counts = new Float64Array(vocab.size);
  for (let i = 0; i < tokens.length; i++) counts[tokens[i]!]++;
  const { remap, vocab: restricted } = vocabularyRestriction(counts, vocab, minCount, maxSize);
  const out = new Uint32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) out[i] = remap[tokens[i]!]!;
  return { tokens: out, vocab: restricted };
}

/**
 * The vocabulary that `--min-count` and `--max-vocab` leave, from each word's count: the kept
 * words in their first-appearance order, and `remap` from old ids to new (rare words → `<unk>`).
 * Ties at the size limit go to the word seen first, so the result is deterministic.
 *
 * @example
 * ```ts
 * // runs
 * import { vocabularyRestriction, Vocabulary } from 'kotoba';
 * const vocab = Vocabulary.fromWords(['a', 'b', 'c']); // ids 3, 4, 5
 * const { remap, vocab: kept } = vocabularyRestriction(Float64Array.of(0, 0, 0, 5, 1, 2), vocab, 2, undefined);
 * kept.list(); // ['<unk>', '<s>', '</s>', 'a', 'c']
 * remap[4];    // 0: b, seen once, becomes <unk>
 * ```
 */
export function vocabularyRestriction(
  counts: Float64Array,
  vocab: Vocabulary,
  minCount: number,
  maxSize: number | undefined,
): { remap: Uint32Array; vocab: Vocabulary } {
  const keep = new Uint8Array(vocab.size);
  for (let id = 3; id < vocab.size; id++) keep[id] = (counts[id] ?? 0) >= minCount ? 1 : 0;
  if (maxSize !== undefined && maxSize < vocab.size) {
    // Most frequent first; ties broken by first appearance, so the result is deterministic.
    const order = [];
    for (let id = 3; id < vocab.size; id++) if (keep[id]) order.push(id);
    order.sort((a, b) => counts[b]! - counts[a]! || a - b);
    for (let r = Math.max(0, maxSize - 3); r < order.length; r++) keep[order[r]!] = 0;
  }
  const remap = new Uint32Array(vocab.size);
  const restricted = new Vocabulary();
  remap[UNK] = UNK;
  remap[BOS] = BOS;
  remap[EOS] = EOS;
  for (let id = 3; id < vocab.size; id++) remap[id] = keep[id] ? restricted.add(vocab.word(id)) : UNK;
  return { remap, vocab: restricted };
}

/**
 * Builds a corpus from lines (strings or an async source of them).
 *
 * @example
 * ```ts
 * import { corpusFromLines } from 'kotoba';
 * import { readLines } from 'kotoba/node';
 * async function* withoutHeadings(lines: AsyncIterable<string>) {
 *   for await (const line of lines) if (!line.startsWith(' = ')) yield line; // WikiText headings
 * }
 * const corpus = await corpusFromLines(withoutHeadings(readLines('wiki.train.txt')), { maxSize: 10000 });
 * ```
 */
export async function corpusFromLines(
  lines: Iterable<string> | AsyncIterable<string>,
  options: CorpusOptions = {},
): Promise<Corpus> {
  const builder = new CorpusBuilder(options);
  for await (const line of lines) builder.addLine(line);
  const corpus = builder.finish();
  if (corpus.sentences === 0) {
    throw new KotobaError(`${at(options.source)}the corpus is empty`, 'give a text file with one sentence per line');
  }
  return corpus;
}

/**
 * Builds a corpus from an array of lines, synchronously.
 *
 * @example
 * ```ts
 * // runs
 * import { corpusFromText } from 'kotoba';
 * const corpus = corpusFromText('私 は 読書 が 好き だ\n1900年代 は 20世紀 だ\n');
 * corpus.sentences; // 2
 * corpus.words;     // 10 (</s> not counted)
 * const small = corpusFromText(['a b b', 'c'], { maxSize: 4 }); // keeps <unk> <s> </s> b
 * ```
 */
export function corpusFromText(text: string | readonly string[], options: CorpusOptions = {}): Corpus {
  const lines = typeof text === 'string' ? text.split('\n') : text.slice();
  if (typeof text === 'string' && lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const builder = new CorpusBuilder(options);
  for (const line of lines) builder.addLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  return builder.finish();
}

/**
 * Iterates the sentences of a token stream as [start, end) ranges of their words (no <s>/</s>).
 *
 * @example
 * ```ts
 * import { sentenceRanges, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * for (const [start, end] of sentenceRanges(corpus.tokens)) {
 *   console.log(Array.from(corpus.tokens.subarray(start, end), (id) => corpus.vocab.word(id)).join(' '));
 * }
 * ```
 */
export function* sentenceRanges(tokens: Uint32Array): Generator<[number, number]> {
  let start = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === BOS) start = i + 1;
    else if (t === EOS) yield [start, i];
  }
}
