/**
 * N-gram estimation from files, for corpora of any size: the pipeline of ngram/pipeline.ts in a
 * worker thread within a memory budget, its runs on disk in a private temporary folder, while
 * this thread reads and tokenizes the input, writes the output atomically, and stays free for
 * Ctrl-C. The temporary folder is removed on success, on error and on SIGINT/SIGTERM; a partial
 * model never reaches the output path.
 *
 * Also counting alone (`countNgramFiles`: one shard of a corpus → a count file) and estimation
 * from count files (`sources.counts`), which merge into the model of the concatenated shards.
 */
import { promises as fsp } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { MessageChannel, Worker } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import { CountFileReader, type CountFileHeader } from '../ngram/count-file.js';
import { checkOrder, pruneThresholds } from '../ngram/estimate.js';
import type { PipelineLog } from '../ngram/pipeline.js';
import { createSmoother, type SmoothingName, type SmoothingOptions } from '../ngram/smoothing.js';
import type { NgramOrderTable, NgramTables } from '../ngram/tables.js';
import { CorpusBuilder } from '../text/corpus.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { Vocabulary } from '../text/vocabulary.js';
import { collectGarbage } from './collect.js';
import { byteChunks, isGzip, readHead, readLines, writeAtomic } from './io.js';
import { fileChunks } from './batches.js';
import { formatForPath, saveNgramModel } from './ngram-files.js';
import { makeTempFolder } from './temp-storage.js';
import { ByteCorpusReader } from './byte-corpus.js';
import { REPEATED_SIGNAL_MS } from './signals.js';
import { POSTED, WRITTEN, type WorkerInput, type WorkerJob } from './ngram-job.js';

/** Where the corpus comes from: text files (or `-`), and/or count files from `countNgramFiles`. */
export interface NgramSources {
  text?: string[];
  counts?: string[];
}

/** Options of `trainNgramModel`, `estimateNgramTables` and `countNgramFiles`. */
export interface NgramFileOptions extends TokenizeOptions {
  /** Highest order (default 3; count files say theirs). */
  order?: number;
  smoothing?: SmoothingName;
  smoothingOptions?: SmoothingOptions;
  /** Count thresholds per order, as lmplz `--prune`. */
  prune?: number[];
  /** Words seen fewer times become `<unk>`. */
  minCount?: number;
  /** Keep at most this many words (the most frequent). */
  maxSize?: number;
  /** A fixed vocabulary: every other word becomes `<unk>`. */
  fixed?: Iterable<string>;
  /**
   * Memory for the sorted streams: bytes, or a size such as `'500M'`, `'4G'`, `'60%'` (of
   * physical memory). Default `'50%'`. The process' peak is about this plus the vocabulary.
   */
  memory?: number | string;
  /**
   * Bytes of `memory` that are already in use for this job outside this process, and so not for
   * the streams (the CLI's relaunching parent: see cli/relaunch.ts). Default 0.
   */
  memoryElsewhere?: number;
  /** Parent folder of the temporary folder (default: the OS temporary directory). */
  tempDir?: string;
  /** Threads (default: the machine's cores); 1 reads the input and counts in turn. */
  threads?: number;
  /** A longer line of text is an error naming the file and the line (default `DEFAULT_MAX_LINE_BYTES`). */
  maxLineBytes?: number;
  log?: PipelineLog;
  /** Fail as a full disk would once temporary files reach this many bytes (tests, quotas). */
  tempQuota?: number;
}

/** What a finished job reports. */
export interface NgramJobSummary {
  /** N-grams per order (index k−1), after pruning. */
  counts: number[];
  vocabulary: number;
  sentences: number;
  words: number;
  description: string;
  /** Largest size of the temporary folder, runs written to it, and of them those a merge wrote. */
  tempPeakBytes: number;
  runs: number;
  mergedRuns: number;
  /** Seconds of each stage in the estimation thread: count (which waits for the reading), adjust, discount, initial, interpolate, write. */
  stageSeconds: Record<string, number>;
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * Bytes of a memory size as lmplz's `-S` takes it: a number with an optional unit (K, M, G, T:
 * powers of 1024; B or none: bytes), or a percentage of physical memory.
 *
 * @example
 * ```ts
 * // runs
 * import { parseMemorySize } from 'kotoba/node';
 * parseMemorySize('500M'); // 524288000
 * parseMemorySize('1.5G'); // 1610612736
 * parseMemorySize('50%');  // half of this machine's memory
 * ```
 */
export function parseMemorySize(text: string | number): number {
  if (typeof text === 'number') {
    if (!(text > 0) || !Number.isFinite(text)) throw new KotobaError(`memory size must be a positive number of bytes, not ${text}`, 'e.g. 4G');
    return Math.floor(text);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%|[bBkKmMgGtT]?)\s*$/.exec(text);
  const bad = () => new KotobaError(`cannot read the memory size '${text}'`, 'give e.g. 500M, 4G or 60%');
  if (!m) throw bad();
  const value = Number(m[1]);
  const unit = m[2]!.toUpperCase();
  const bytes = unit === '%' ? (value / 100) * totalmem() : value * UNITS[unit]!;
  if (!(bytes >= 1 << 20)) throw new KotobaError(`memory size '${text}' is below 1 MB`, 'give at least 1M (e.g. 500M, 4G)');
  if (unit === '%' && value > 100) throw bad();
  return Math.floor(bytes);
}

/** Tokens per block sent to the worker. */
const BLOCK_TOKENS = 1 << 20;

interface JobOutcome {
  result: Omit<NgramJobSummary, 'sentences' | 'words'>;
  tables?: { words: string[]; orders: NgramOrderTable[]; description: string; text: TokenizeOptions };
}

/**
 * Runs one job in the estimation worker: feeds it the sources, hands its output chunks to
 * `out` in order, removes the temporary folder whatever happens.
 */
async function runJob(
  kind: WorkerJob['kind'],
  sources: NgramSources,
  options: NgramFileOptions,
  out: ((chunk: Uint8Array) => Promise<void>) | null,
): Promise<JobOutcome & { sentences: number; words: number }> {
  const text = sources.text ?? [];
  const counts = sources.counts ?? [];
  if (text.length + counts.length === 0) throw new KotobaError('no input given', 'give text files (or - for standard input), or count files');
  const order = checkOrder(options.order ?? 3);
  const smoothing = options.smoothing ?? 'mkn';
  createSmoother(smoothing, options.smoothingOptions); // checks the name and parameters now
  pruneThresholds(options.prune, order);
  const requested = parseMemorySize(options.memory ?? '50%');
  // What runs elsewhere for this job comes out of the budget, down to a quarter of it at most.
  const memoryBytes = requested - Math.min(requested / 4, Math.max(0, options.memoryElsewhere ?? 0));
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new KotobaError(`threads must be a whole number ≥ 1, not ${threads}`, 'e.g. --threads 2');
  const log = options.log;
  const folder = makeTempFolder(options.tempDir); // an unwritable folder fails here, before any work
  const inbox = new MessageChannel();
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const job: WorkerJob = {
    kind,
    order,
    smoothing,
    smoothingOptions: options.smoothingOptions ?? {},
    ...(options.prune ? { prune: options.prune } : {}),
    ...(options.minCount !== undefined && options.minCount > 1 ? { minCount: options.minCount } : {}),
    ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    text: textOptionsOfJob(options),
    tempDir: folder.path,
    memoryBytes,
    minReadBytes: Math.min(4 << 20, Math.max(64 << 10, Math.floor(memoryBytes / 512))),
    ...(options.tempQuota !== undefined ? { tempQuota: options.tempQuota } : {}),
    inbox: inbox.port2,
    control,
    helpers: [],
    slots: new SharedArrayBuffer(4 * Math.max(1, threads - 1)),
  };
  if (options.fixed && (job.minCount !== undefined || job.maxSize !== undefined)) {
    throw new KotobaError('a fixed vocabulary cannot be combined with a minimum count or a maximum size', 'give one of them');
  }
  // Sorting helpers: threads − 1 of them; the estimation worker is the last thread.
  const helpers: Worker[] = [];
  for (let i = 0; i < threads - 1; i++) {
    const channel = new MessageChannel();
    job.helpers.push(channel.port1);
    helpers.push(
      new Worker(new URL('./sort-helper.js', import.meta.url), {
        workerData: { port: channel.port2, slots: job.slots, index: i, minReadBytes: job.minReadBytes },
        transferList: [channel.port2],
      }),
    );
  }
  const worker = new Worker(new URL('./ngram-worker.js', import.meta.url), { workerData: job, transferList: [inbox.port2, ...job.helpers] });

  let failed: unknown = null;
  let finish!: (r: JobOutcome) => void;
  let fail!: (e: unknown) => void;
  const outcome = new Promise<JobOutcome>((resolve, reject) => {
    finish = resolve;
    fail = (e) => {
      if (failed) return;
      failed = e;
      for (const w of waiting.splice(0)) w.reject(e);
      void worker.terminate();
      reject(e);
    };
  });
  outcome.catch(() => {});
  // Input blocks in flight: one with a single thread (the worker counts while we wait), two otherwise.
  const ahead = threads > 1 ? 2 : 1;
  let inFlight = 0;
  const waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  let writing = Promise.resolve();
  let tables: JobOutcome['tables'];
  let doneReceived = false;

  const onMessage = (m: { type: string } & Record<string, unknown>) => {
    switch (m.type) {
      case 'consumed':
        inFlight--;
        waiting.shift()?.resolve();
        break;
      case 'chunk': {
        const chunk = m.chunk as Uint8Array;
        writing = writing.then(async () => {
          if (failed) return;
          await out!(chunk);
          Atomics.add(flags, WRITTEN, 1);
          Atomics.notify(flags, WRITTEN);
        });
        writing.catch(fail);
        break;
      }
      case 'warn':
        log?.warn(m.message as string);
        break;
      case 'info':
        log?.info(m.message as string);
        break;
      case 'progress':
        log?.progress?.(m.stage as string, m.done as number, m.total as number);
        break;
      case 'tables':
        tables = { words: m.words as string[], orders: m.orders as NgramOrderTable[], description: m.description as string, text: m.text as TokenizeOptions };
        break;
      case 'done':
        doneReceived = true;
        writing.then(() => finish({ result: m.result as JobOutcome['result'], ...(tables ? { tables } : {}) }), fail);
        break;
      case 'error':
        if (m.internal) {
          const message = m.message as string;
          fail(
            /allocation failed|out of memory/i.test(message)
              ? new KotobaError(`out of memory during estimation (${message})`, 'pass a smaller --memory')
              : Object.assign(new Error(message), { stack: m.stack as string }),
          );
        } else fail(new KotobaError(m.message as string, m.hint as string | undefined));
        break;
    }
  };
  // An error here (the caller's log threw) fails the job like any other, which removes its files;
  // thrown out of the listener, it would end the process and leave them.
  worker.on('message', (m: { type: string } & Record<string, unknown>) => {
    try {
      onMessage(m);
    } catch (e) {
      fail(e);
    }
  });
  worker.on('error', fail);
  for (const h of helpers) {
    h.on('error', fail);
    h.on('exit', (code) => doneReceived || fail(new KotobaError(`a sorting thread stopped unexpectedly (exit code ${code})`, 'see the messages above; a smaller --memory may help')));
  }
  worker.on('exit', (code) => doneReceived || fail(new KotobaError(`the estimation worker stopped unexpectedly (exit code ${code})`, 'see the messages above; a smaller --memory may help')));

  const post = async (message: WorkerInput, transfer: ArrayBuffer[]): Promise<void> => {
    if (failed) throw failed;
    inbox.port1.postMessage(message, transfer);
    Atomics.add(flags, POSTED, 1);
    Atomics.notify(flags, POSTED);
    if (message.type === 'end') return;
    inFlight++;
    while (inFlight >= ahead) await new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
  };

  // A second signal stops at once; one within REPEATED_SIGNAL_MS of the first is the same Ctrl-C
  // delivered twice (by the terminal and by the relaunching parent, see cli/relaunch.ts).
  let interruptedAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedAt > 0) {
      if (Date.now() - interruptedAt < REPEATED_SIGNAL_MS) return;
      folder.remove();
      process.exit(130);
    }
    interruptedAt = Date.now();
    fail(new KotobaError(`interrupted by ${signal}`, 'the temporary files and the partial output were removed'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const totals = await Promise.race([feed(text, counts, order, options, post, log), outcome.then(() => null)]);
    if (totals === null) throw new Error('the estimation worker finished before its input');
    // The reader's vocabulary (a string and a map entry per word type, a few hundred MB for tens
    // of millions of types) is garbage now; this thread allocates too little to collect it soon.
    collectGarbage();
    const done = await outcome;
    return { ...done, ...totals };
  } catch (e) {
    fail(e);
    throw failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const w of [worker, ...helpers]) w.removeAllListeners('exit');
    await Promise.all([worker, ...helpers].map((w) => w.terminate()));
    inbox.port1.close();
    folder.remove();
  }
}

/** Reads the sources on this thread: text → blocks of word ids, count files → their rows in our ids. */
async function feed(
  text: string[],
  counts: string[],
  order: number,
  options: NgramFileOptions,
  post: (m: WorkerInput, transfer: ArrayBuffer[]) => Promise<void>,
  log: PipelineLog | undefined,
): Promise<{ sentences: number; words: number }> {
  // Plain text (split on spaces and tabs) is read as bytes, with no string per word; other
  // tokenizations go through lines and CorpusBuilder.
  const builder =
    options.lowercase || options.segment
      ? new CorpusBuilder({
          ...(options.lowercase ? { lowercase: true } : {}),
          ...(options.segment ? { segment: options.segment } : {}),
          ...(options.fixed ? { fixed: options.fixed } : {}),
        })
      : new ByteCorpusReader({ ...(options.fixed ? { fixed: options.fixed } : {}), ...(options.maxLineBytes ? { maxLineBytes: options.maxLineBytes } : {}) });
  // Progress in bytes read, of the total where every file is plain (a gzipped size says little).
  let bytes = 0;
  let total = 0;
  for (const file of text) {
    const size = file === '-' ? 0 : await fsp.stat(file).then((st) => st.size, () => 0);
    const head = size > 0 ? await readHead(file, 2).catch(() => null) : null;
    total = total >= 0 && size > 0 && head !== null && !isGzip(head) ? total + size : -1;
  }
  const onBytes = (n: number) => (bytes += n);
  const flush = async () => {
    const tokens = builder.takeTokens();
    await post({ type: 'tokens', tokens, types: builder.vocab.size }, [tokens.buffer as ArrayBuffer]);
    log?.progress?.('reading', bytes, Math.max(0, total));
  };
  for (const file of text) {
    builder.beginSource(file);
    if (builder instanceof ByteCorpusReader) {
      for await (const chunk of fileChunks(file)) {
        onBytes(chunk.length);
        builder.push(chunk);
        if (builder.pendingTokens >= BLOCK_TOKENS) await flush();
      }
      builder.end();
    } else {
      for await (const line of readLines(file, { onBytes, ...(options.maxLineBytes ? { maxLineBytes: options.maxLineBytes } : {}) })) {
        builder.addLine(line);
        if (builder.pendingTokens >= BLOCK_TOKENS) await flush();
      }
    }
  }
  if (builder.pendingTokens > 0) {
    const tokens = builder.takeTokens();
    await post({ type: 'tokens', tokens, types: builder.vocab.size }, [tokens.buffer as ArrayBuffer]);
  }
  let sentences = builder.sentences;
  let words = builder.words;
  const vocab = builder.vocab;
  // Every input must be read with the same text options: those given (with text files), else the
  // first count file's.
  let textOptions: TokenizeOptions | null = text.length > 0 ? textOptionsOfJob(options) : null;
  for (const file of counts) {
    const shard = await feedCountFile(file, order, (textOptions ??= await countFileTextOptions(file)), vocab, post);
    sentences += shard.sentences;
    words += shard.words;
  }
  if (words === 0) {
    const name = text.length + counts.length === 1 ? (text[0] ?? counts[0]!) : 'the input';
    throw new KotobaError(`${name === '-' ? '<stdin>' : name}: the corpus ${sentences === 0 ? 'is empty' : 'has no words'}`, 'give a text file with one sentence per line');
  }
  await post({ type: 'end', words: vocab.list(), sentences, tokens: words, text: textOptions ?? {} }, []);
  return { sentences, words };
}

/** The text options of a job: lowercase and segment, as given. */
function textOptionsOfJob(options: TokenizeOptions): TokenizeOptions {
  return { ...(options.lowercase ? { lowercase: true } : {}), ...(options.segment ? { segment: options.segment } : {}) };
}

/** The text options a count file was counted with (read from its header). */
async function countFileTextOptions(file: string): Promise<TokenizeOptions> {
  const reader = new CountFileReader(file);
  for await (const chunk of byteChunks(file)) {
    for (const _ of reader.push(chunk)) break;
    if (reader.header) break;
  }
  const h = reader.header;
  if (!h) reader.end(); // a file too short for its header: the reader names what is wrong
  return textOptionsOfJob(h?.text ?? {});
}

/** One count file's rows, its word ids mapped into `vocab` (which grows in the shard's order). */
async function feedCountFile(
  file: string,
  order: number,
  options: TokenizeOptions,
  vocab: Vocabulary,
  post: (m: WorkerInput, transfer: ArrayBuffer[]) => Promise<void>,
): Promise<CountFileHeader> {
  const reader = new CountFileReader(file);
  let map: Uint32Array | null = null;
  for await (const chunk of byteChunks(file)) {
    for (const rows of reader.push(chunk)) {
      if (!map) {
        const h = reader.header!;
        if (h.order !== order) {
          throw new KotobaError(`${file}: counted with order ${h.order}, not ${order}`, `pass --order ${h.order}, or count every shard with the same order`);
        }
        if (Boolean(h.text.lowercase) !== Boolean(options.lowercase) || (h.text.segment ?? '') !== (options.segment ?? '')) {
          throw new KotobaError(`${file}: counted with other text options (${JSON.stringify(h.text)}) than the other inputs`, 'count every shard with the same --lowercase/--segment');
        }
        map = Uint32Array.from(reader.vocab!.list(), (w) => vocab.add(w));
      }
      const W = order + 1;
      for (let i = 0; i < rows.length; i += W) for (let j = 0; j < order; j++) rows[i + j] = map[rows[i + j]!]!;
      await post({ type: 'rows', rows, types: vocab.size }, [rows.buffer as ArrayBuffer]);
    }
  }
  reader.end();
  if (!map) {
    // A shard without rows still brings its words.
    for (const w of reader.vocab!.list()) vocab.add(w);
  }
  return reader.header!;
}

/**
 * Trains an n-gram model from text files and/or count files into `output` (`.arpa`,
 * `.arpa.gz`: streamed within the memory budget; `.kblm`: the model is built in memory at the
 * end), atomically.
 *
 * @example
 * ```ts
 * import { trainNgramModel } from 'kotoba/node';
 * const summary = await trainNgramModel('news5.arpa.gz', { text: ['news.2019.txt.gz', 'news.2020.txt.gz'] }, {
 *   order: 5, memory: '2G', tempDir: '/scratch', log: console,
 * });
 * summary.counts; // n-grams per order
 * ```
 */
export async function trainNgramModel(output: string, sources: NgramSources, options: NgramFileOptions = {}): Promise<NgramJobSummary> {
  if (formatForPath(output) === 'binary') {
    const tables = await estimateNgramTables(sources, options);
    await saveNgramModel(output, tables);
    return (tables as NgramTables & { summary: NgramJobSummary }).summary;
  }
  let summary!: NgramJobSummary;
  await writeAtomic(
    output,
    async (out) => {
      const r = await runJob('arpa', sources, options, out);
      summary = { ...r.result, sentences: r.sentences, words: r.words };
    },
    { large: true },
  );
  return summary;
}

/**
 * Estimates from files through the streaming stages, returning the model as tables in memory
 * (for a binary model or pruning afterwards). The tables also carry the job's `summary`.
 *
 * @example
 * ```ts
 * import { BackoffModel, pruneRelativeEntropy } from 'kotoba';
 * import { estimateNgramTables, saveNgramModel } from 'kotoba/node';
 * const tables = await estimateNgramTables({ counts: ['a.counts', 'b.counts'] }, { order: 4, memory: '1G' });
 * await saveNgramModel('small.kblm', pruneRelativeEntropy(BackoffModel.fromTables(tables), 1e-8));
 * ```
 */
export async function estimateNgramTables(sources: NgramSources, options: NgramFileOptions = {}): Promise<NgramTables & { summary: NgramJobSummary }> {
  const r = await runJob('tables', sources, options, null);
  const t = r.tables!;
  return {
    vocab: Vocabulary.fromWords(t.words),
    orders: t.orders,
    description: t.description,
    text: t.text,
    summary: { ...r.result, sentences: r.sentences, words: r.words },
  };
}

/**
 * Counts the n-grams of text files into a count file (`.counts`, or `.counts.gz`): one shard of
 * a corpus, to be merged with others by `trainNgramModel(…, { counts: [...] })`.
 *
 * @example
 * ```ts
 * import { countNgramFiles, trainNgramModel } from 'kotoba/node';
 * await countNgramFiles('part1.counts.gz', ['part1.txt'], { order: 5 });
 * await countNgramFiles('part2.counts.gz', ['part2.txt'], { order: 5 });
 * await trainNgramModel('all.arpa', { counts: ['part1.counts.gz', 'part2.counts.gz'] }, { order: 5 });
 * ```
 */
export async function countNgramFiles(output: string, text: string[], options: NgramFileOptions = {}): Promise<Omit<NgramJobSummary, 'counts' | 'description'>> {
  if (options.minCount !== undefined || options.maxSize !== undefined || options.fixed !== undefined || options.prune !== undefined) {
    throw new KotobaError('vocabulary limits and pruning apply when training, not when counting a shard', 'give them to kotoba train --from-counts');
  }
  let summary!: Omit<NgramJobSummary, 'counts' | 'description'>;
  await writeAtomic(
    output,
    async (out) => {
      const r = await runJob('counts', { text }, options, out);
      summary = { vocabulary: r.result.vocabulary, sentences: r.sentences, words: r.words, tempPeakBytes: r.result.tempPeakBytes, runs: r.result.runs, mergedRuns: r.result.mergedRuns, stageSeconds: r.result.stageSeconds };
    },
    { large: true },
  );
  return summary;
}

/**
 * The order a count file was counted with (read from its header).
 *
 * @example
 * ```ts
 * import { countFileOrder } from 'kotoba/node';
 * const order = await countFileOrder('part1.counts.gz'); // e.g. 5
 * ```
 */
export async function countFileOrder(file: string): Promise<number> {
  const reader = new CountFileReader(file);
  for await (const chunk of byteChunks(file)) {
    reader.push(chunk);
    if (reader.header) return reader.header.order;
  }
  reader.end(); // names what is wrong with the file
  throw new KotobaError(`${file}: no count file header`);
}
