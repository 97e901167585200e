/**
 * Word bytes → word id, without making a string per word: the fast way from UTF-8 text (an ARPA
 * file, a text to score) to ids. FNV-1a over the bytes, open addressing with each slot's hash
 * kept beside its id (so that a probe compares bytes only when the hashes agree), the words'
 * bytes in one array.
 */
import type { Vocabulary } from './vocabulary.js';

/** FNV-1a's starting state, and one byte's step: `h = fnvStep(h, byte)`. */
export const FNV_START = 0x811c9dc5 | 0;
export const fnvStep = (h: number, byte: number): number => Math.imul(h ^ byte, 0x01000193);

/** The table hash from an FNV state: its high bits folded in, so that a small table's mask sees them. */
export const fnvFinish = (h: number): number => h ^ (h >>> 15);

export class WordTable {
  /** Per slot: a word id (-1: empty) and its hash. */
  slotIds: Int32Array = new Int32Array(1024).fill(-1);
  slotHashes = new Int32Array(1024);
  /** The words' bytes, word id i at bytes[starts[i], starts[i + 1]). */
  bytes = new Uint8Array(1 << 16);
  starts = new Int32Array(1024);
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
    return this.findHashed(b, start, end, fnvFinish(fnv(b, start, end)));
  }

  /** `find`, given the word's hash (`fnvFinish` of its FNV state: a caller that scans the bytes anyway computes it). */
  findHashed(b: Uint8Array, start: number, end: number, hash: number): number {
    const ids = this.slotIds;
    const hashes = this.slotHashes;
    const starts = this.starts;
    const bytes = this.bytes;
    const mask = ids.length - 1;
    const n = end - start;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const id = ids[s]!;
      if (id < 0) return -1;
      if (hashes[s] !== hash) continue;
      const from = starts[id]!;
      if (starts[id + 1]! - from !== n) continue;
      let j = 0;
      while (j < n && bytes[from + j] === b[start + j]) j++;
      if (j === n) return id;
    }
  }

  /** Records word `id` (ids come in increasing order, once each). */
  add(id: number, b: Uint8Array, start: number, end: number): void {
    if ((this.used + 1) * 2 > this.slotIds.length) this.grow();
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
    this.insert(id, fnvFinish(fnv(b, start, end)));
    this.used++;
  }

  private insert(id: number, hash: number): void {
    const mask = this.slotIds.length - 1;
    let s = hash & mask;
    while (this.slotIds[s]! >= 0) s = (s + 1) & mask;
    this.slotIds[s] = id;
    this.slotHashes[s] = hash;
  }

  private grow(): void {
    const oldIds = this.slotIds;
    const oldHashes = this.slotHashes;
    this.slotIds = new Int32Array(oldIds.length * 2).fill(-1);
    this.slotHashes = new Int32Array(oldIds.length * 2);
    for (let s = 0; s < oldIds.length; s++) if (oldIds[s]! >= 0) this.insert(oldIds[s]!, oldHashes[s]!);
  }
}

function fnv(b: Uint8Array, start: number, end: number): number {
  let h = FNV_START;
  for (let i = start; i < end; i++) h = fnvStep(h, b[i]!);
  return h;
}
