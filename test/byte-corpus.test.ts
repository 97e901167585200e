/**
 * The byte reader of training text (no string per word) reads exactly as readLines +
 * CorpusBuilder: same ids, same vocabulary, same errors, whatever the chunk boundaries, with its
 * WebAssembly loop and with its TypeScript loop.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CorpusBuilder } from '../src/index.js';
import { ByteCorpusReader, readLines } from '../src/node/index.js';
import { tempDir } from './helpers.js';

const cases: [string, string][] = [
  ['plain', 'a b c\nb c a\n'],
  ['no final newline', 'a b\nc'],
  ['CRLF and a lone CR inside a word', 'a b\r\nc\rd e\r\nf\r'],
  ['byte-order mark, tabs, runs of spaces', '\ufeffa\t b  c \n\t\n'],
  ['empty lines', '\n\na\n\n'],
  ['markers at the ends', '<s> a b </s>\n<s>\n</s>\n<s> </s>\n a </s> \n'],
  ['<unk> and multibyte words', '私 は <unk> 猫\n全角\u3000スペース é\n'],
  ['a lone <s>', '<s>'],
  ['a byte-order mark inside the text is a character', 'a b\n\ufeffb \ufeffa\n\ufeff\na \ufeff\n'],
];

/** Sentences of ids and the vocabulary, the reference way (lines, then CorpusBuilder). */
async function reference(path: string, fixed?: string[]) {
  const builder = new CorpusBuilder(fixed ? { fixed, source: path } : { source: path });
  for await (const line of readLines(path)) builder.addLine(line);
  return { tokens: Array.from(builder.takeTokens()), words: builder.vocab.list(), sentences: builder.sentences, count: builder.words };
}

function byteWay(bytes: Uint8Array, chunk: number, fixed?: string[], kernel = true, maxLineBytes?: number) {
  const reader = new ByteCorpusReader({ ...(fixed ? { fixed } : {}), kernel, ...(maxLineBytes ? { maxLineBytes } : {}) });
  reader.beginSource('t.txt');
  for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
  reader.end();
  return { tokens: Array.from(reader.takeTokens()), words: reader.vocab.list(), sentences: reader.sentences, count: reader.words };
}

test('byte reader: the ids, vocabulary and counts of readLines + CorpusBuilder, for any chunk size', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const [name, text] of cases) {
      const path = join(dir, 't.txt');
      const bytes = new TextEncoder().encode(text);
      writeFileSync(path, bytes);
      for (const fixed of [undefined, ['b', '猫', 'zzz']]) {
        const expected = await reference(path, fixed);
        for (const chunk of [1, 2, 3, 7, 1 << 20]) {
          for (const kernel of [true, false]) {
            assert.deepEqual(byteWay(bytes, chunk, fixed, kernel), expected, `${name}, chunks of ${chunk}${fixed ? ', fixed vocabulary' : ''}${kernel ? '' : ', TypeScript loop'}`);
          }
        }
      }
    }
  } finally {
    cleanup();
  }
});

test('byte reader: markers inside a sentence and invalid UTF-8 are errors naming the line', async () => {
  const bad: [string, RegExp][] = [
    ['a\nb <s> c\n', /^t\.txt:2: <s> inside a sentence \(<s> may only open a line/],
    ['a\n</s> b\n', /^t\.txt:2: <\/s> inside a sentence/],
    ['a\nb\n\xff\n', /^t\.txt:3: invalid UTF-8 \(convert the file to UTF-8/],
    // After a chunk's last newline, and in a last line without one.
    ['a b\nc\xffd\ne\n', /^t\.txt:2: invalid UTF-8 \(convert the file to UTF-8/],
    ['a\nb c\xff', /^t\.txt:2: invalid UTF-8 \(convert the file to UTF-8/],
  ];
  for (const [text, expected] of bad) {
    const bytes = text.includes('\xff') ? Uint8Array.from([...text].map((c) => c.charCodeAt(0))) : new TextEncoder().encode(text);
    for (const chunk of [1, 4, 5, 100]) {
      for (const kernel of [true, false]) assert.throws(() => byteWay(bytes, chunk, undefined, kernel), { message: expected }, `${JSON.stringify(text)} in chunks of ${chunk}`);
    }
  }
  // A character cut off by the end of the file.
  assert.throws(() => byteWay(Uint8Array.of(0x61, 0x0a, 0xe7, 0xa7), 1), { message: /^t\.txt:2: invalid UTF-8 \(truncated character at end of file\)/ });
});

test('byte reader: the WebAssembly loop reads as the TypeScript loop while its memory grows (many words, long lines), and stops where it does', () => {
  let seed = 7;
  const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const pieces = ['a', 'é', '猫', 'x\r', '<unk>', 'wörd'];
  const word = () => `${pieces[random(pieces.length)]}${random(40000)}`;
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const n = random(25);
    const words = Array.from({ length: n }, word);
    if (random(10) === 0) words.unshift('<s>');
    if (random(10) === 0) words.push('</s>');
    lines.push(words.join(random(4) === 0 ? ' \t ' : ' ') + (random(8) === 0 ? '\r' : ''));
  }
  // Lines of more ids than the kernel's first output region, and of more new words than its first table.
  lines.push(Array.from({ length: 70000 }, (_, i) => `long${i}`).join(' '));
  lines.push(Array.from({ length: 70000 }, (_, i) => `long${i % 9}`).join('  '));
  const bytes = new TextEncoder().encode(lines.join('\n'));
  const fixed = Array.from({ length: 5000 }, word);
  for (const chunk of [4093, 1 << 16, 1 << 22]) {
    for (const vocabulary of [undefined, fixed]) {
      const expected = byteWay(bytes, chunk, vocabulary, false);
      assert.deepEqual(byteWay(bytes, chunk, vocabulary, true), expected, `chunks of ${chunk}${vocabulary ? ', fixed vocabulary' : ''}`);
    }
  }
  assert.ok(byteWay(bytes, 1 << 16).words.length > 60000, 'the vocabulary grew past the first table');
  // Errors at the same line, with the same message, after the same lines of a chunk.
  const errors: [string, number | undefined][] = [
    ['a b\nc d e f\ng\n', 5],
    ['a b\nc <s> d\n', undefined],
    ['a b\nd </s> e\nf\n', undefined],
  ];
  for (const [text, max] of errors) {
    const b = new TextEncoder().encode(text);
    const message = (kernel: boolean) => {
      try {
        byteWay(b, 1 << 20, undefined, kernel, max);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    assert.match(message(true), /^t\.txt:2: /);
    assert.equal(message(true), message(false), text);
  }
});

test('byte reader, seeded differential fuzz: random texts of words, markers, spaces, tabs, CR, byte-order marks and U+3000, in random chunks, read alike by both loops and by readLines + CorpusBuilder', async () => {
  let seed = 12345;
  const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const atoms = ['a', 'b', 'é', '猫', '<s>', '</s>', '<unk>', ' ', ' ', '\t', '\r', '\n', '\n', '\r\n', 'xy', '\ufeff', '\u3000'];
  const outcome = (f: () => unknown) => {
    try {
      return f();
    } catch (e) {
      return (e as Error).message;
    }
  };
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 't.txt');
    for (let it = 0; it < 600; it++) {
      let text = '';
      for (let i = random(50); i > 0; i--) text += random(5) === 0 ? String(random(30)) : atoms[random(atoms.length)];
      const bytes = new TextEncoder().encode(text);
      const chunk = 1 + random(20);
      const fixed = random(3) === 0 ? ['a', 'b', '猫', '3'] : undefined;
      const max = random(4) === 0 ? 1 + random(12) : undefined;
      const kernel = outcome(() => byteWay(bytes, chunk, fixed, true, max));
      assert.deepEqual(kernel, outcome(() => byteWay(bytes, chunk, fixed, false, max)), `${JSON.stringify(text)} in chunks of ${chunk}, max ${max}`);
      if (max !== undefined || it % 3 !== 0) continue;
      writeFileSync(path, bytes);
      let expected: unknown;
      try {
        expected = await reference(path, fixed);
      } catch (e) {
        expected = (e as Error).message.replace(path, 't.txt');
      }
      assert.deepEqual(kernel, expected, `${JSON.stringify(text)} against readLines + CorpusBuilder`);
    }
  } finally {
    cleanup();
  }
});
