/**
 * The demo's Web Worker: everything that takes time (reading a corpus, estimating a model,
 * parsing an ARPA file, scoring) runs here, so the page stays responsive. It holds one model and
 * answers the requests of protocol.ts, written against the `LanguageModel` interface only, so
 * that every model family the library can open works the same way.
 */
import {
  BackoffModel,
  CorpusBuilder,
  detectSegmentLocale,
  deserializeModel,
  estimate,
  decodeSafetensors,
  isBinaryModel,
  KotobaError,
  looksLikeSafetensors,
  neuralModelFromFile,
  parseArpaBytes,
  PerplexityAccumulator,
  scoreSentence,
  SMOOTHING_NAMES,
  tokenizer,
  type LanguageModel,
  type SmoothingName,
} from '../src/index.js';
import { Sampler } from '../src/apps/generate.js';
import { contextState, nextWords } from '../src/apps/nextword.js';
import { Random } from '../src/util/random.js';
import { availableKernelBackends } from '../src/neural/kernels/index.js';
import { threadsSupported } from '../src/neural/kernels/pool.js';
import { NeuralModel } from '../src/neural/model.js';
import type { AnalyzeResult, ModelInfo, Request, Response, SampleResult, TextSettings } from './protocol.js';

// The worker's global scope, typed by hand (the project compiles against the DOM library).
const scope = self as unknown as {
  postMessage(message: Response): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
};

let model: LanguageModel<unknown> | null = null;

/** Makes `next` the model, stopping the kernel threads of the one it replaces. */
function setModel(next: LanguageModel<unknown>): LanguageModel<unknown> {
  if (model instanceof NeuralModel && model !== next) model.kernels.close();
  model = next;
  return next;
}

function post(message: Response): void {
  scope.postMessage(message);
}

/** Lines of a byte stream, split exactly as the CLI's readLines splits them (BOM, CR LF). */
async function* lines(stream: ReadableStream<Uint8Array>, onBytes: (n: number) => void): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  const reader = stream.getReader();
  let carry = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onBytes(value.length);
    const full = carry + decoder.decode(value, { stream: true });
    let start = 0;
    for (let nl = full.indexOf('\n'); nl >= 0; nl = full.indexOf('\n', start)) {
      const end = nl > start && full.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield full.slice(start, end);
      start = nl + 1;
    }
    carry = full.slice(start);
  }
  carry += decoder.decode();
  if (carry.length > 0) yield carry.charCodeAt(carry.length - 1) === 13 ? carry.slice(0, -1) : carry;
}

function textOptions(text: TextSettings): { segment?: string; lowercase?: boolean } {
  const out: { segment?: string; lowercase?: boolean } = {};
  if (text.segment) out.segment = text.segment;
  if (text.lowercase) out.lowercase = true;
  return out;
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function kernelBackend(): Promise<string> {
  try {
    return (await availableKernelBackends())[0] ?? 'js';
  } catch {
    return 'js';
  }
}

/** The kernel threads a neural model gets here: every core in a cross-origin-isolated page, else 1. */
const threads = (): number => (threadsSupported() ? Math.max(1, navigator.hardwareConcurrency || 1) : 1);

async function info(lm: LanguageModel<unknown>, started: number): Promise<ModelInfo> {
  const kernels = lm instanceof NeuralModel ? lm.kernels : null;
  const out: ModelInfo = {
    description: lm.description,
    family: lm instanceof BackoffModel ? 'ngram' : 'neural',
    vocabulary: lm.vocab.size,
    seconds: (performance.now() - started) / 1000,
    kernels: kernels ? kernels.backend : await kernelBackend(),
    threads: kernels ? kernels.threads : threads(),
  };
  if (lm instanceof BackoffModel) out.ngrams = lm.counts;
  if (lm.text) out.text = { segment: lm.text.segment ?? '', lowercase: lm.text.lowercase === true };
  return out;
}

/** How text is read with the model: its own text options (as the CLI does), else the page's settings. */
function readingOf(lm: LanguageModel<unknown>, page: TextSettings): TextSettings {
  return lm.text ? { segment: lm.text.segment ?? '', lowercase: lm.text.lowercase === true } : page;
}

async function train(req: Extract<Request, { type: 'train' }>): Promise<ModelInfo> {
  const started = performance.now();
  const progress = (message: string, fraction?: number) => post({ id: req.id, type: 'progress', message, ...(fraction === undefined ? {} : { fraction }) });
  if (!(SMOOTHING_NAMES as readonly string[]).includes(req.smoothing)) {
    throw new KotobaError(`unknown smoothing '${req.smoothing}'`, `use one of ${SMOOTHING_NAMES.join(', ')}`);
  }
  let stream: ReadableStream<Uint8Array>;
  let size = 0;
  const name = req.source.name;
  if ('url' in req.source) {
    progress(`fetching ${name}`, 0);
    const res = await fetch(req.source.url);
    if (!res.ok || !res.body) throw new KotobaError(`cannot fetch ${name}: HTTP ${res.status}`, 'serve the demo with `npm run web`');
    size = Number(res.headers.get('content-length') ?? 0);
    stream = res.body;
  } else {
    size = req.source.file.size;
    stream = req.source.file.stream();
  }
  // Reading is the first half of the bar, estimation's five stages the second.
  const builder = new CorpusBuilder({ source: name, ...textOptions(req.text) });
  let bytes = 0;
  let n = 0;
  for await (const line of lines(stream, (k) => (bytes += k))) {
    builder.addLine(line);
    if (++n % 1000 === 0) progress(`reading ${name}: ${n} lines, ${builder.words} words`, size ? (0.5 * bytes) / size : undefined);
  }
  const corpus = builder.finish();
  if (corpus.words === 0) throw new KotobaError(`${name}: the corpus has no words`, 'give a text file with one sentence per line');
  progress(`read ${corpus.sentences} sentences, ${corpus.words} words, ${corpus.vocab.size} word types`, 0.5);
  let stage = 0;
  const tables = estimate(corpus, {
    order: req.order,
    smoothing: req.smoothing as SmoothingName,
    log: {
      info: (m) => progress(m, m.startsWith('===') ? 0.5 + 0.1 * ++stage : undefined),
      warn: (m) => progress(`warning: ${m}`),
    },
  });
  progress('building the query model', 1);
  return info(setModel(BackoffModel.fromTables(tables)), started);
}

async function load(req: Extract<Request, { type: 'load' }>): Promise<ModelInfo> {
  const started = performance.now();
  const progress = (message: string) => post({ id: req.id, type: 'progress', message });
  progress(`reading ${req.name} (${(req.file.size / 1e6).toFixed(1)} MB)`);
  let bytes: Uint8Array = new Uint8Array(await req.file.arrayBuffer());
  if (isGzip(bytes)) {
    progress('decompressing');
    bytes = await gunzip(bytes as Uint8Array<ArrayBuffer>);
  }
  let next: LanguageModel<unknown>;
  if (isBinaryModel(bytes)) {
    next = deserializeModel(bytes, req.name);
  } else if (looksLikeSafetensors(bytes)) {
    // A neural model: the same file kotoba train --model … writes, on the wasm kernels here too,
    // on every core when the page is cross-origin isolated.
    progress('building the neural model');
    next = await neuralModelFromFile(decodeSafetensors(bytes, req.name), req.name, { threads: 'auto' });
  } else {
    progress('parsing ARPA');
    const tables = parseArpaBytes(bytes, { source: req.name, warn: (m) => progress(`warning: ${m}`) });
    progress('building the query model');
    next = BackoffModel.fromTables(tables);
  }
  return info(setModel(next), started);
}

function need(): LanguageModel<unknown> {
  if (!model) throw new KotobaError('no model yet', 'train or load one first');
  return model;
}

const tokenizers = new Map<string, (line: string) => string[]>();
function tokenize(text: TextSettings): (line: string) => string[] {
  const key = `${text.segment}\u0000${text.lowercase}`;
  let t = tokenizers.get(key);
  if (!t) {
    t = tokenizer(textOptions(text));
    tokenizers.set(key, t);
  }
  return t;
}

/** Scores one line as the CLI's `score` and `ppl` do: </s> appended, float32 sentence total. */
function scoreLine(lm: LanguageModel<unknown>, words: string[]) {
  const ids = words.map((w) => lm.vocab.id(w));
  const r = scoreSentence(lm, ids, true, words);
  const acc = new PerplexityAccumulator();
  acc.addSentence(
    r.words.map((w) => w.id),
    r.words.map((w) => w.log10),
  );
  return { r, acc };
}

function analyze(req: Extract<Request, { type: 'analyze' }>): AnalyzeResult {
  const lm = need();
  const split = tokenize(readingOf(lm, req.text));
  const words = split(req.sentence);
  const { r, acc } = scoreLine(lm, words);
  const out: AnalyzeResult = {
    words: r.words.map((w) => ({ word: w.word, log10: w.log10, ngram: w.ngram ?? null, oov: w.oov })),
    total: r.total,
    perplexity: acc.perplexity,
    perplexityExcludingOov: acc.perplexityExcludingOov,
    oov: acc.oov,
    tokens: acc.tokens,
    next: [],
    ranked: [],
  };
  try {
    out.next = nextWords(lm, contextState(lm, words).state, req.k).map(({ word, probability, log10 }) => ({ word, probability, log10 }));
  } catch (e) {
    out.nextNote = e instanceof Error ? e.message : String(e);
  }
  const ranked = req.candidates
    .map((sentence, index) => ({ sentence, index }))
    .filter((c) => c.sentence.trim() !== '')
    .map(({ sentence, index }) => {
      const s = scoreLine(lm, split(sentence));
      return { sentence, index, total: s.r.total, perplexity: s.acc.perplexity, oov: s.acc.oov };
    });
  ranked.sort((a, b) => b.total - a.total || a.index - b.index);
  out.ranked = ranked.map(({ sentence, total, perplexity, oov }) => ({ sentence, total, perplexity, oov }));
  return out;
}

/**
 * Seeded samples with the library's Sampler and PRNG, exactly as `kotoba generate --seed S
 * --prefix P --count N --max-words M` draws them (same seed, same sentences).
 */
function sample(req: Extract<Request, { type: 'sample' }>): SampleResult {
  const lm = need();
  const text = readingOf(lm, req.text);
  const sampler = new Sampler(lm, { random: new Random(req.seed), prefix: tokenize(text)(req.prefix), maxWords: req.maxWords });
  const samples: SampleResult['samples'] = [];
  for (let s = 0; s < req.count; s++) {
    const { words } = sampler.sample();
    // Text that was segmented is written back without spaces, as it was typed.
    const spaced = words.join(' ');
    samples.push({ words, text: text.segment && detectSegmentLocale(spaced) ? words.join('') : spaced });
  }
  return { samples };
}

// One request at a time, in order: a request that arrives while a model is being trained waits
// for it, so that it is answered by the model the user asked for last.
let queue: Promise<unknown> = Promise.resolve();

scope.onmessage = (event) => {
  const req = event.data;
  const run = async (): Promise<ModelInfo | AnalyzeResult | SampleResult> => {
    switch (req.type) {
      case 'train':
        return train(req);
      case 'load':
        return load(req);
      case 'analyze':
        return analyze(req);
      case 'sample':
        return sample(req);
    }
  };
  queue = queue.then(run).then(
    (result) => post({ id: req.id, type: 'done', result }),
    (e: unknown) => post({ id: req.id, type: 'error', message: e instanceof Error ? e.message : String(e) }),
  );
};
