/** What the main thread and the estimation worker (ngram-worker.ts) say to each other. */
import type { TokenizeOptions } from '../text/tokenize.js';
import type { MessagePort } from 'node:worker_threads';
import type { CountFileHeader } from '../ngram/count-file.js';
import type { SmoothingName, SmoothingOptions } from '../ngram/smoothing.js';

/** What the main thread asks for (workerData). */
export interface WorkerJob {
  kind: 'arpa' | 'tables' | 'counts';
  order: number;
  smoothing: SmoothingName;
  smoothingOptions: SmoothingOptions;
  prune?: number[];
  minCount?: number;
  maxSize?: number;
  /** Text options of a count file's header. */
  text: CountFileHeader['text'];
  tempDir: string;
  memoryBytes: number;
  minReadBytes: number;
  tempQuota?: number;
  inbox: MessagePort;
  /** Ports to the sorting helpers (threads − 1 of them), and their slots (sort-pool.ts). */
  helpers: MessagePort[];
  slots: SharedArrayBuffer;
  /** Int32Array: [messages posted to the inbox, output chunks written by the main thread]. */
  control: SharedArrayBuffer;
}

/** Messages on the inbox. */
export type WorkerInput =
  /** `types`: word types read so far (the reader's vocabulary, which the budget counts). */
  | { type: 'tokens'; tokens: Uint32Array; types: number }
  | { type: 'rows'; rows: Uint32Array; types: number }
  /** The input is over; `text`: the text options of what was read (the count files' own, when only they were read). */
  | { type: 'end'; words: string[]; sentences: number; tokens: number; text: TokenizeOptions };

/**
 * Memory of a vocabulary, per word type, as charged to the budget. Measured at a million types
 * of about ten letters: the reader's (a byte hash and the words) about 123 bytes, the worker's
 * (the words, the id map and the list) about 75.
 */
export const VOCABULARY_BYTES_PER_TYPE = 128;

export const POSTED = 0;
export const WRITTEN = 1;
