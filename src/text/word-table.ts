/** A table from the UTF-8 bytes of words to ids, for readers that make no string per word. */

/**
 * Word bytes → id, without making a string per word: FNV-1a over the bytes, open addressing.
 *
 * @example
 * ```ts
 * // runs
 * import { WordTable } from 'kotoba';
 * const bytes = new TextEncoder().encode('私 は');
 * const table = new WordTable();
 * table.add(0, bytes, 0, 3);  // 私 is id 0
 * table.find(bytes, 0, 3);    // 0
 * table.find(bytes, 4, 7);    // -1: は is not in the table
 * ```
 */
export class WordTable {
  private slots: Int32Array = new Int32Array(1024).fill(-1);
  private bytes = new Uint8Array(1 << 16);
  private starts = new Int32Array(1024);
  private used = 0;
  private byteLength = 0;

  /** Id of the word `b[start, end)`, or -1; `hash` when the caller has it (`hashBytes`). */
  find(b: Uint8Array, start: number, end: number, hash = hashBytes(b, start, end)): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const id = this.slots[s]!;
      if (id < 0) return -1;
      if (this.same(id, b, start, end)) return id;
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
    this.insert(id, hashBytes(b, start, end));
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
    for (const id of old) if (id >= 0) this.insert(id, hashBytes(this.bytes, this.starts[id]!, this.starts[id + 1]!));
  }

  private same(id: number, b: Uint8Array, start: number, end: number): boolean {
    const from = this.starts[id]!;
    if (this.starts[id + 1]! - from !== end - start) return false;
    for (let i = start, j = from; i < end; i++, j++) if (b[i] !== this.bytes[j]) return false;
    return true;
  }
}

/** FNV-1a of `b[start, end)`, the table's hash. */
export function hashBytes(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}
