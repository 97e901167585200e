/**
 * Word bytes → word id, without making a string per word: the fast way from UTF-8 text (an ARPA
 * file, a text to score) to ids. FNV-1a over the bytes, open addressing, the words' bytes in one
 * array.
 */
import type { Vocabulary } from './vocabulary.js';

export class WordTable {
  private slots: Int32Array = new Int32Array(1024).fill(-1);
  private bytes = new Uint8Array(1 << 16);
  private starts = new Int32Array(1024);
  private used = 0;
  private byteLength = 0;

  /**
   * The table of a vocabulary's words.
   *
   * @example
   * ```ts
   * // runs
   * import { Vocabulary, WordTable } from 'kotoba';
   * const table = WordTable.fromVocabulary(Vocabulary.fromWords(['私', 'は']));
   * const bytes = new TextEncoder().encode('私 は 猫');
   * table.find(bytes, 0, 3); // 3: the id of 私
   * table.find(bytes, 8, 11); // -1: 猫 is not in the vocabulary
   * ```
   */
  static fromVocabulary(vocab: Vocabulary): WordTable {
    const table = new WordTable();
    const encoder = new TextEncoder();
    vocab.list().forEach((w, id) => {
      const b = encoder.encode(w);
      table.add(id, b, 0, b.length);
    });
    return table;
  }

  /** Id of the word spelled by `b[start, end)`, or -1. */
  find(b: Uint8Array, start: number, end: number): number {
    return this.findHashed(b, start, end, fnv(b, start, end));
  }

  /** `find`, given the word's `fnv` state (a caller that scans the bytes anyway computes it). */
  findHashed(b: Uint8Array, start: number, end: number, fnvState: number): number {
    const mask = this.slots.length - 1;
    const n = end - start;
    for (let s = finish(fnvState) & mask; ; s = (s + 1) & mask) {
      const id = this.slots[s]!;
      if (id < 0) return -1;
      const from = this.starts[id]!;
      if (this.starts[id + 1]! - from === n && this.same(from, b, start, end)) return id;
    }
  }

  /** Records word `id` (ids come in increasing order, once each). */
  add(id: number, b: Uint8Array, start: number, end: number): void {
    if ((this.used + 1) * 2 > this.slots.length) this.grow();
    if (id + 2 > this.starts.length) {
      const starts = new Int32Array(this.starts.length * 2);
      starts.set(this.starts);
      this.starts = starts;
    }
    const n = end - start;
    if (this.byteLength + n > this.bytes.length) {
      const bytes = new Uint8Array(Math.max(this.bytes.length * 2, this.byteLength + n));
      bytes.set(this.bytes.subarray(0, this.byteLength));
      this.bytes = bytes;
    }
    this.bytes.set(b.subarray(start, end), this.byteLength);
    this.starts[id] = this.byteLength;
    this.byteLength += n;
    this.starts[id + 1] = this.byteLength;
    this.insert(id, finish(fnv(b, start, end)));
    this.used++;
  }

  private insert(id: number, hash: number): void {
    const mask = this.slots.length - 1;
    let s = hash & mask;
    while (this.slots[s]! >= 0) s = (s + 1) & mask;
    this.slots[s] = id;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2).fill(-1);
    for (const id of old) if (id >= 0) this.insert(id, finish(fnv(this.bytes, this.starts[id]!, this.starts[id + 1]!)));
  }

  private same(from: number, b: Uint8Array, start: number, end: number): boolean {
    const bytes = this.bytes;
    for (let i = start, j = from; i < end; i++, j++) if (b[i] !== bytes[j]) return false;
    return true;
  }
}

/** FNV-1a's starting state, and one byte's step: `h = fnvStep(h, byte)`. */
export const FNV_START = 0x811c9dc5 | 0;
export const fnvStep = (h: number, byte: number): number => Math.imul(h ^ byte, 0x01000193);

function fnv(b: Uint8Array, start: number, end: number): number {
  let h = FNV_START;
  for (let i = start; i < end; i++) h = fnvStep(h, b[i]!);
  return h;
}

/** The slot hash from an FNV state: its high bits folded in, so a small table's mask sees them. */
const finish = (h: number) => (h ^ (h >>> 15)) >>> 0;
