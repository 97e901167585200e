/**
 * The byte reader of training text (no string per word) reads exactly as readLines +
 * CorpusBuilder: same ids, same vocabulary, same errors, whatever the chunk boundaries.
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
];

/** Sentences of ids and the vocabulary, the reference way (lines, then CorpusBuilder). */
async function reference(path: string, fixed?: string[]) {
  const builder = new CorpusBuilder(fixed ? { fixed, source: path } : { source: path });
  for await (const line of readLines(path)) builder.addLine(line);
  return { tokens: Array.from(builder.takeTokens()), words: builder.vocab.list(), sentences: builder.sentences, count: builder.words };
}

function byteWay(bytes: Uint8Array, chunk: number, fixed?: string[]) {
  const reader = new ByteCorpusReader(fixed ? { fixed } : {});
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
        for (const chunk of [1, 2, 3, 7, 1 << 20]) assert.deepEqual(byteWay(bytes, chunk, fixed), expected, `${name}, chunks of ${chunk}${fixed ? ', fixed vocabulary' : ''}`);
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
    for (const chunk of [1, 4, 5, 100]) assert.throws(() => byteWay(bytes, chunk), { message: expected }, `${JSON.stringify(text)} in chunks of ${chunk}`);
  }
  // A character cut off by the end of the file.
  assert.throws(() => byteWay(Uint8Array.of(0x61, 0x0a, 0xe7, 0xa7), 1), { message: /^t\.txt:2: invalid UTF-8 \(truncated character at end of file\)/ });
});
