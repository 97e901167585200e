/**
 * The WebAssembly tokenizer of training text (asm/tokenize.ts) and its memory: the inner loop of
 * `ByteCorpusReader`, whose TypeScript loop stays the reference and the fallback. Its gain is the
 * start: the kernel runs compiled from its first line, where the TypeScript loop runs cold for most
 * of a small corpus (Penn Treebank: about 150 ms cold against 60 ms warm).
 *
 * The memory holds the argument block, then regions placed one above the other as they are needed
 * (`place`): the lines of a call, the ids they make, and the vocabulary's hash table, word starts
 * and word bytes. A region that must grow gets a new place at the top (the old one stays unused;
 * regions double, so the unused space is less than the used). The kernel stops for room at a
 * line's start (for the ids the line can make) or before a new word (for that word: a long line of
 * few words takes no more than they need), and goes on where it stopped.
 */
import { KotobaError } from '../errors.js';
import { TOKENIZE_WASM_BASE64 } from './tokenize-wasm.generated.js';
import type { Vocabulary } from '../text/vocabulary.js';
import { PrivateKernel } from '../ngram/wasm-kernel.js';

// The argument block's u32 slots (asm/tokenize.ts's A_* divided by four).
const IN = 0;
const IN_END = 1;
const OUT = 2;
const OUT_LEN = 3;
const OUT_CAP = 4;
const TABLE = 5;
const MASK = 6;
const STARTS = 7;
const WORDS = 8;
const WORDS_CAP = 9;
const ARENA = 10;
const ARENA_USED = 11;
const ARENA_CAP = 12;
const CLOSED = 13;
const MAX_LINE = 14;
const LINES = 15;
const TOKENS = 16;
const RESUME = 17;
const NEED = 21;
const ARGS_BYTES = 128;

/** How `read` ended (asm/tokenize.ts's codes). */
export const ReadEnd = { Done: 0, Room: 1, TooLong: 2, BosInside: 3, EosInside: 4 } as const;
export type ReadEnd = (typeof ReadEnd)[keyof typeof ReadEnd];

type Tokenize = (args: number) => number;
type AddWord = (args: number, s: number, e: number) => void;
type Rehash = (args: number, table: number, mask: number) => void;

// A byte-order mark is a character here: the one that may open a file is skipped before decoding.
const DECODER = new TextDecoder('utf-8', { ignoreBOM: true });
const NL = 0x0a;

/** A tokenizer over a memory of its own (one per reader). */
export class TokenizeKernel {
  private readonly run: Tokenize;
  private readonly addWordAt: AddWord;
  private readonly rehashInto: Rehash;
  /** The first byte above every region. */
  private top = ARGS_BYTES;
  /** The input region (it holds one call's lines) and its size. */
  private inAt = 0;
  private inCap = 0;
  /** Vocabulary ids the host's Vocabulary has (the kernel's may be ahead after a call). */
  private known = 0;

  private constructor(private readonly kernel: PrivateKernel) {
    this.run = kernel.exports.tokenize as Tokenize;
    this.addWordAt = kernel.exports.addWord as AddWord;
    this.rehashInto = kernel.exports.rehash as Rehash;
  }

  /**
   * A tokenizer that knows `vocab`'s words (with `closed`, only those: another word is `<unk>`),
   * or null where WebAssembly cannot run it.
   */
  static create(vocab: Vocabulary, closed: boolean, maxLineBytes: number): TokenizeKernel | null {
    const kernel = PrivateKernel.load(TOKENIZE_WASM_BASE64, 1 << 20);
    if (!kernel) return null;
    const t = new TokenizeKernel(kernel);
    t.args[CLOSED] = closed ? 1 : 0;
    t.args[MAX_LINE] = Math.min(maxLineBytes, 2 ** 32 - 1);
    t.growTable(1 << 12);
    t.growStarts(1 << 11);
    t.growArena(1 << 16);
    t.growOut(1 << 16);
    const encoder = new TextEncoder();
    for (const w of vocab.list()) {
      const b = encoder.encode(w);
      t.vocabularyRoom(1, b.length);
      const at = t.input(b.length);
      t.bytes.set(b, at);
      t.addWordAt(0, at, at + b.length);
    }
    t.known = t.args[WORDS]!;
    return t;
  }

  private get args(): Uint32Array {
    return new Uint32Array(this.kernel.memory.buffer, 0, ARGS_BYTES / 4);
  }

  private get bytes(): Uint8Array {
    return new Uint8Array(this.kernel.memory.buffer);
  }

  /**
   * Reads the lines of `buf[from, to)`: each ends with a newline, but for the last one when
   * `newline` says that it has none (the end of a file). Gives each sentence's ids to `out` (in
   * pieces; the view is valid until `out` returns) and each new word to `vocab`. Returns how it
   * ended, with the lines and words read before that (an error is at the next line).
   */
  read(buf: Uint8Array, from: number, to: number, newline: boolean, vocab: Vocabulary, out: (ids: Uint32Array) => void): { end: ReadEnd; lines: number; words: number } {
    const n = to - from + (newline ? 1 : 0);
    const at = this.input(n);
    const bytes = this.bytes;
    bytes.set(buf.subarray(from, to), at);
    if (newline) bytes[at + n - 1] = NL;
    let args = this.args;
    args[IN] = at;
    args[IN_END] = at + n;
    args[LINES] = 0;
    args[TOKENS] = 0;
    args[RESUME] = 0;
    args[OUT_LEN] = 0;
    // A line's ids are about a fifth of its bytes (a word and its space); more and the call stops to flush them.
    if (args[OUT_CAP]! < (n >>> 2) + 1024) this.growOut((n >>> 2) + 1024);
    let end: ReadEnd;
    for (;;) {
      end = this.run(0) as ReadEnd;
      args = this.args;
      this.newWords(vocab);
      if (end === ReadEnd.Room && args[RESUME] !== 0) {
        // A new word did not fit, in the middle of a line (its ids so far stay in the output).
        this.vocabularyRoom(1, args[NEED]!);
        continue;
      }
      args = this.args;
      if (args[OUT_LEN]! > 0) out(new Uint32Array(this.kernel.memory.buffer, args[OUT]!, args[OUT_LEN]!));
      args[OUT_LEN] = 0;
      if (end !== ReadEnd.Room) break;
      // The ids of the line at IN might not fit: room for as many as it can have.
      const lineStart = args[IN]!;
      const most = ((this.bytes.indexOf(NL, lineStart) - lineStart + 1) >>> 1) + 2;
      if (most > args[OUT_CAP]!) this.growOut(most);
    }
    args = this.args;
    return { end, lines: args[LINES]!, words: args[TOKENS]! };
  }

  /** Gives the kernel's new words to `vocab` (their ids agree: both count in first-appearance order). */
  private newWords(vocab: Vocabulary): void {
    const args = this.args;
    const words = args[WORDS]!;
    if (words === this.known) return;
    const starts = new Uint32Array(this.kernel.memory.buffer, args[STARTS]!, words + 1);
    const arena = args[ARENA]!;
    const bytes = this.bytes;
    // One decoding for all of them (a call per word costs more than the word); where they are all
    // ASCII, characters are bytes and the words are slices of it.
    const from = starts[this.known]!;
    const all = DECODER.decode(bytes.subarray(arena + from, arena + starts[words]!));
    const ascii = all.length === starts[words]! - from;
    for (let id = this.known; id < words; id++) {
      const word = ascii ? all.slice(starts[id]! - from, starts[id + 1]! - from) : DECODER.decode(bytes.subarray(arena + starts[id]!, arena + starts[id + 1]!));
      const got = vocab.add(word);
      if (got !== id) throw new Error(`tokenize kernel: word ${id} became ${got} in the vocabulary`);
    }
    this.known = words;
  }

  /** Room for `words` more words of `bytes` bytes in all. */
  private vocabularyRoom(words: number, bytes: number): void {
    const args = this.args;
    const want = args[WORDS]! + words;
    if (want + 1 > args[WORDS_CAP]!) this.growStarts(Math.max(want + 1, args[WORDS_CAP]! * 2));
    if (want * 2 > args[MASK]! + 1) this.growTable(Math.max(want * 2, (args[MASK]! + 1) * 2));
    if (args[ARENA_USED]! + bytes > args[ARENA_CAP]!) this.growArena(Math.max(args[ARENA_USED]! + bytes, args[ARENA_CAP]! * 2));
  }

  /** The input region, with room for `n` bytes: its offset. */
  private input(n: number): number {
    if (n > this.inCap) {
      const cap = Math.max(n, this.inCap * 2, 1 << 16);
      this.inAt = this.place(cap);
      this.inCap = cap;
    }
    return this.inAt;
  }

  /** A new region of `bytes` (zero: it lies above everything used so far) at the top: its offset. */
  private place(bytes: number): number {
    const at = Math.ceil(this.top / 16) * 16;
    const top = at + bytes;
    if (!this.kernel.room(top + 16)) {
      throw new KotobaError(
        `the vocabulary does not fit the tokenizer's 4 GB memory (${this.args[WORDS]!.toLocaleString('en-US')} words so far)`,
        'give a fixed vocabulary (--vocab FILE; other words become <unk>)',
      );
    }
    this.top = top;
    return at;
  }

  /** Moves the region whose offset is in slot `region` to a new place of `bytes`, with its first `used` bytes; its capacity slot gets `cap`. */
  private move(region: number, capSlot: number, cap: number, bytes: number, used: number): void {
    const at = this.place(bytes);
    const args = this.args;
    if (used > 0) this.bytes.copyWithin(at, args[region]!, args[region]! + used);
    args[region] = at;
    args[capSlot] = cap;
  }

  /** Room for `ids` ids out (the ids there are flushed already). */
  private growOut(ids: number): void {
    this.move(OUT, OUT_CAP, ids, ids * 4, 0);
  }

  private growStarts(cap: number): void {
    const args = this.args;
    this.move(STARTS, WORDS_CAP, cap, cap * 4, args[WORDS_CAP]! > 0 ? (args[WORDS]! + 1) * 4 : 0);
  }

  private growArena(cap: number): void {
    this.move(ARENA, ARENA_CAP, cap, cap, this.args[ARENA_USED]!);
  }

  private growTable(slots: number): void {
    let size = 1;
    while (size < slots) size *= 2;
    const at = this.place(size * 8);
    const args = this.args;
    if (args[MASK]! > 0) this.rehashInto(0, at, size - 1);
    args[TABLE] = at;
    args[MASK] = size - 1;
  }
}
