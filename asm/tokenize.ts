// Training text's lines → sentences of word ids (AssemblyScript → WebAssembly), for
// src/node/tokenize-kernel.ts: the inner loop of ByteCorpusReader (src/node/byte-corpus.ts), whose
// TypeScript loop stays the reference and the fallback. Words are split on U+0020 and TAB; each
// new word type gets the next id (first-appearance order) in a hash table kept in this memory.
//
// The host owns the memory and lays it out; the regions and the progress live in an argument
// block of u32 slots (A_*). `tokenize` reads whole lines (every one ends with a newline). It stops
// (ROOM) at a line's start when the line's ids might not fit, and before a new word that the
// vocabulary's regions have no room for, keeping its place in the line (A_RESUME…); the host grows
// the region and calls again, and the call goes on where the last one stopped. Room for words is
// asked for a word at a time, so that a long line of few words takes no more than they need. It
// also stops at a line too long, and at a marker inside a sentence.

// The argument block: byte offsets of its u32 slots.
const A_IN: usize = 0; // the next line's first byte (advanced past each line read)
const A_IN_END: usize = 4; // just past the last newline
const A_OUT: usize = 8; // ids out (u32)
const A_OUT_LEN: usize = 12; // ids written
const A_OUT_CAP: usize = 16;
const A_TABLE: usize = 20; // slots of 8 bytes: id + 1 (0: empty), hash
const A_MASK: usize = 24; // slots − 1 (a power of two minus one)
const A_STARTS: usize = 28; // per id, its bytes' start in the arena; starts[id + 1] its end
const A_WORDS: usize = 32; // ids given so far (the vocabulary's size)
const A_WORDS_CAP: usize = 36; // room in starts: ids + 1 ≤ this
const A_ARENA: usize = 40; // the words' bytes
const A_ARENA_USED: usize = 44;
const A_ARENA_CAP: usize = 48;
const A_CLOSED: usize = 52; // 1: a fixed vocabulary (an unknown word is <unk>)
const A_MAX_LINE: usize = 56; // a longer line (CR counted, newline not) stops the call
const A_LINES: usize = 60; // lines read (added to)
const A_TOKENS: usize = 64; // words read, markers and sentence ends not counted (added to)
// A line left for room for a new word: that word's first byte (0: none), then the line's state.
const A_RESUME: usize = 68;
const A_RESUME_WORD: usize = 72; // words of the line before it
const A_RESUME_OUT: usize = 76; // where its id goes in the output
const A_RESUME_N: usize = 80; // the line's ids so far, without <s>
const A_NEED: usize = 84; // the new word's bytes

/** How a call ended. */
const DONE: i32 = 0;
const ROOM: i32 = 1;
const TOO_LONG: i32 = 2;
const BOS_INSIDE: i32 = 3;
const EOS_INSIDE: i32 = 4;

const UNK: u32 = 0;
const BOS: u32 = 1;
const EOS: u32 = 2;
const NL: u8 = 0x0a;
const CR: u8 = 0x0d;
const SPACE: u8 = 0x20;
const TAB: u8 = 0x09;
const FNV_START: u32 = 0x811c9dc5;
const FNV_PRIME: u32 = 0x01000193;

@inline function slot(args: usize, at: usize): u32 {
  return load<u32>(args + at);
}

/** The id of the word at bytes [s, e) with hash h, or −1. */
@inline function find(table: usize, mask: u32, starts: usize, arena: usize, s: usize, e: usize, h: u32): i32 {
  const n = e - s;
  for (let i = h & mask; ; i = (i + 1) & mask) {
    const p = table + ((<usize>i) << 3);
    const id1 = load<u32>(p);
    if (id1 == 0) return -1;
    if (load<u32>(p, 4) != h) continue;
    const id = <usize>(id1 - 1);
    const from = <usize>load<u32>(starts + (id << 2));
    if (<usize>load<u32>(starts + (id << 2), 4) - from != n) continue;
    if (same(arena + from, s, n)) return <i32>id;
  }
  return -1; // not reached: the table always has an empty slot
}

/** Whether the n bytes at a and at b are the same. */
@inline function same(a: usize, b: usize, n: usize): bool {
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  for (; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** Gives the word at bytes [s, e) (hash h) the next id; the host has checked the room. */
@inline function add(args: usize, table: usize, mask: u32, starts: usize, arena: usize, s: usize, e: usize, h: u32): u32 {
  const id = slot(args, A_WORDS);
  const used = slot(args, A_ARENA_USED);
  const n = <u32>(e - s);
  memory.copy(arena + <usize>used, s, n);
  store<u32>(starts + ((<usize>id + 1) << 2), used + n);
  store<u32>(args + A_ARENA_USED, used + n);
  store<u32>(args + A_WORDS, id + 1);
  insert(table, mask, id + 1, h);
  return id;
}

/** Puts id + 1 (`id1`) with hash h in the first empty slot from h on. */
@inline function insert(table: usize, mask: u32, id1: u32, h: u32): void {
  let i = h & mask;
  while (load<u32>(table + ((<usize>i) << 3)) != 0) i = (i + 1) & mask;
  store<u32>(table + ((<usize>i) << 3), id1);
  store<u32>(table + ((<usize>i) << 3), h, 4);
}

@inline function hashOf(s: usize, e: usize): u32 {
  let h = FNV_START;
  for (let p = s; p < e; p++) h = (h ^ <u32>load<u8>(p)) * FNV_PRIME;
  return h ^ (h >> 15);
}

/** Adds the word at bytes [s, e) (the host's, for a fixed vocabulary or the markers) as the next id. */
export function addWord(args: usize, s: usize, e: usize): void {
  add(args, slot(args, A_TABLE), slot(args, A_MASK), slot(args, A_STARTS), slot(args, A_ARENA), s, e, hashOf(s, e));
}

/** Moves the table's entries into a new table of mask + 1 slots at `table` (zeroed); the host then points A_TABLE and A_MASK at it. */
export function rehash(args: usize, table: usize, mask: u32): void {
  const old = <usize>slot(args, A_TABLE);
  const oldSlots = <usize>slot(args, A_MASK) + 1;
  for (let j: usize = 0; j < oldSlots; j++) {
    const p = old + (j << 3);
    const id1 = load<u32>(p);
    if (id1 == 0) continue;
    insert(table, mask, id1, load<u32>(p, 4));
  }
}

/** The first newline at or after p (there is one before the input's end; the host leaves 16 readable bytes past the top). */
@inline function newlineFrom(p: usize): usize {
  const nls = i8x16.splat(<i8>NL);
  for (;;) {
    const mask = i8x16.bitmask(i8x16.eq(v128.load(p), nls));
    if (mask != 0) return p + <usize>ctz(mask);
    p += 16;
  }
  return 0; // not reached
}

function onlySpaces(from: usize, to: usize): bool {
  for (let p = from; p < to; p++) {
    const c = load<u8>(p);
    if (c != SPACE && c != TAB) return false;
  }
  return true;
}

/** Reads the lines from A_IN to A_IN_END (see the top); returns DONE, ROOM, TOO_LONG or a marker inside a sentence. */
export function tokenize(args: usize): i32 {
  let p = <usize>slot(args, A_IN);
  const end = <usize>slot(args, A_IN_END);
  const out = <usize>slot(args, A_OUT);
  let outLen = slot(args, A_OUT_LEN);
  const outCap = slot(args, A_OUT_CAP);
  const table = <usize>slot(args, A_TABLE);
  const mask = slot(args, A_MASK);
  const starts = <usize>slot(args, A_STARTS);
  const arena = <usize>slot(args, A_ARENA);
  const closed = slot(args, A_CLOSED) != 0;
  const maxLine = <usize>slot(args, A_MAX_LINE);
  let resume = <usize>slot(args, A_RESUME);
  store<u32>(args + A_RESUME, 0);
  let lines: u32 = 0;
  let tokens: u32 = 0;
  let status = DONE;
  while (p < end) {
    const nl = newlineFrom(p);
    const to = nl > p && load<u8>(nl - 1) == CR ? nl - 1 : nl;
    let o: u32;
    let n: u32;
    let i: usize;
    let word: i32;
    if (resume != 0) {
      // The line that stopped for room, from the word that needed it.
      i = resume;
      word = <i32>slot(args, A_RESUME_WORD);
      o = slot(args, A_RESUME_OUT);
      n = slot(args, A_RESUME_N);
      resume = 0;
    } else {
      const length = nl - p;
      if (length > maxLine) {
        status = TOO_LONG;
        break;
      }
      // At most one id per two bytes (a word and its space), and the two ends.
      if (outLen + <u32>((length + 1) >> 1) + 2 > outCap) {
        status = ROOM;
        break;
      }
      o = outLen;
      store<u32>(out + (<usize>o << 2), BOS);
      o++;
      n = 0;
      i = p;
      word = 0;
    }
    for (; i < to; word++) {
      while (i < to && (load<u8>(i) == SPACE || load<u8>(i) == TAB)) i++;
      if (i >= to) break;
      const s = i;
      let h = FNV_START;
      for (let c = load<u8>(i); c != SPACE && c != TAB; c = load<u8>(i)) {
        h = (h ^ <u32>c) * FNV_PRIME;
        if (++i >= to) break;
      }
      h ^= h >> 15;
      let id = find(table, mask, starts, arena, s, i, h);
      if (id < 0) {
        if (closed) id = <i32>UNK;
        else {
          const words = slot(args, A_WORDS);
          if (words + 2 > slot(args, A_WORDS_CAP) || (words + 1) * 2 > mask + 1 || slot(args, A_ARENA_USED) + <u32>(i - s) > slot(args, A_ARENA_CAP)) {
            store<u32>(args + A_RESUME, <u32>s);
            store<u32>(args + A_RESUME_WORD, <u32>word);
            store<u32>(args + A_RESUME_OUT, o);
            store<u32>(args + A_RESUME_N, n);
            store<u32>(args + A_NEED, <u32>(i - s));
            status = ROOM;
            break;
          }
          id = <i32>add(args, table, mask, starts, arena, s, i, h);
        }
      }
      if (id == <i32>BOS || id == <i32>EOS) {
        // <s> may open the line and </s> close it; both are dropped.
        if (id == <i32>BOS ? word == 0 : onlySpaces(i, to)) continue;
        status = id == <i32>BOS ? BOS_INSIDE : EOS_INSIDE;
        break;
      }
      store<u32>(out + (<usize>o << 2), <u32>id);
      o++;
      n++;
    }
    if (status != DONE) break;
    store<u32>(out + (<usize>o << 2), EOS);
    outLen = o + 1;
    tokens += n;
    lines++;
    p = nl + 1;
  }
  store<u32>(args + A_IN, <u32>p);
  store<u32>(args + A_OUT_LEN, outLen);
  store<u32>(args + A_LINES, slot(args, A_LINES) + lines);
  store<u32>(args + A_TOKENS, slot(args, A_TOKENS) + tokens);
  return status;
}
