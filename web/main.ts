/**
 * The demo page's UI thread: forms and rendering only. Every model operation is a request to the
 * Web Worker (worker.ts), so that training or loading never freezes the page; the elapsed-time
 * counter keeps ticking while the worker is busy, which shows that it does.
 *
 * For the browser test, numbers are also written unrounded into `data-*` attributes (the text
 * shows them rounded), and `#words[data-for]` names the sentence and model the results are for.
 */
import type { AnalyzeResult, ModelInfo, Request, Response, SampleResult, TextSettings } from './protocol.js';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type RequestBody = WithoutId<Request>;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: #${id} is missing from index.html`);
  return el as T;
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; progress?: (m: string, f?: number) => void }>();

worker.onmessage = (event: MessageEvent<Response>) => {
  const msg = event.data;
  const p = pending.get(msg.id);
  if (!p) return;
  if (msg.type === 'progress') p.progress?.(msg.message, msg.fraction);
  else {
    pending.delete(msg.id);
    if (msg.type === 'done') p.resolve(msg.result);
    else p.reject(new Error(msg.message));
  }
};
worker.onerror = (e) => setModelState('error', `the worker failed: ${e.message}`);

function ask<T>(body: RequestBody, progress?: (m: string, f?: number) => void): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (r: unknown) => void, reject, ...(progress ? { progress } : {}) });
    worker.postMessage({ ...body, id } as Request);
  });
}

// ---- model: train or load ------------------------------------------------------------------

const info = $('model-info');
const log = $('log');
const bar = $<HTMLProgressElement>('progress');
let serial = 0;
let busy = 0;
/** What the model in use is (the worker keeps it when a new one fails). */
let current = '';

function setModelState(state: 'idle' | 'busy' | 'ready' | 'error', text: string): void {
  info.dataset.state = state;
  info.textContent = text;
}

function textSettings(): TextSettings {
  return { segment: $<HTMLSelectElement>('segment').value, lowercase: $<HTMLInputElement>('lowercase').checked };
}

/** The part of a progress line that repeats while it counts up (`reading NAME: `). */
const repeating = (m: string): string | null => /^reading [^:]+: /.exec(m)?.[0] ?? null;

/** Appends a line to the log; one that only updates the previous line's count replaces it. */
function logLine(m: string): void {
  const lines = log.textContent ? log.textContent.replace(/\n$/, '').split('\n') : [];
  const key = repeating(m);
  if (key !== null && lines.length > 0 && lines[lines.length - 1]!.startsWith(key)) lines.pop();
  lines.push(m);
  log.textContent = lines.join('\n') + '\n';
}

/** A failure that leaves the worker's model as it was: say which model the page still uses. */
function failed(message: string): void {
  bar.value = 0;
  setModelState('error', `${message} — ${serial > 0 ? `the page still uses the previous model: ${current}` : 'no model yet'}`);
}

/** Runs a train/load request with the progress bar, the log and a ticking clock. */
async function modelJob(what: string, body: RequestBody): Promise<void> {
  busy++;
  const started = performance.now();
  log.textContent = '';
  bar.value = 0;
  for (const b of document.querySelectorAll<HTMLButtonElement>('#train, #sample')) b.disabled = true;
  let last = what;
  // requestAnimationFrame only runs when the main thread is free: a moving clock is the proof.
  let frame = 0;
  let frames = 0;
  const tick = () => {
    setModelState('busy', `${last} — ${((performance.now() - started) / 1000).toFixed(1)} s`);
    frames++;
    frame = requestAnimationFrame(tick);
  };
  tick();
  try {
    const m = await ask<ModelInfo>(body, (message, fraction) => {
      last = message.replace(/^=== | ===$/g, '');
      logLine(message);
      if (fraction !== undefined) bar.value = fraction;
    });
    cancelAnimationFrame(frame);
    info.dataset.frames = String(frames);
    bar.value = 1;
    serial++;
    info.dataset.serial = String(serial);
    current = m.description;
    $('samples').textContent = ''; // they were drawn from the previous model
    const ngrams = m.ngrams ? `; n-grams per order ${m.ngrams.join(' / ')}` : '';
    // The model reads text its own way: show it in the word settings.
    if (m.text) {
      $<HTMLSelectElement>('segment').value = m.text.segment;
      $<HTMLInputElement>('lowercase').checked = m.text.lowercase;
    }
    const reads = m.text ? `; words: ${m.text.segment ? `segmented (${m.text.segment})` : 'split on spaces'}${m.text.lowercase ? ', lowercased' : ''}` : '';
    info.dataset.threads = String(m.threads);
    setModelState('ready', `${m.description}; ${m.vocabulary} word types${ngrams}${reads}; ready in ${m.seconds.toFixed(2)} s (kernels: ${m.kernels}, ${m.threads} thread${m.threads > 1 ? 's' : ''})`);
    logLine(`done in ${m.seconds.toFixed(2)} s`);
    await refresh();
  } catch (e) {
    cancelAnimationFrame(frame);
    failed((e as Error).message);
  } finally {
    busy--;
    for (const b of document.querySelectorAll<HTMLButtonElement>('#train, #sample')) b.disabled = busy > 0;
  }
}

const source = $<HTMLSelectElement>('source');
const trainFile = $<HTMLInputElement>('train-file');
source.addEventListener('change', () => {
  trainFile.hidden = source.value !== 'file';
});

$('train').addEventListener('click', () => {
  // The page's own words for a bad order (the library's name the CLI flag); its range is the field's.
  const orderField = $<HTMLInputElement>('order');
  const order = Number(orderField.value);
  if (orderField.value.trim() === '' || !orderField.checkValidity()) {
    failed(`Order N must be a whole number from ${orderField.min} to ${orderField.max}, not '${orderField.value}'`);
    return;
  }
  const smoothing = $<HTMLSelectElement>('smoothing').value;
  let src: { url: string; name: string } | { file: Blob; name: string };
  if (source.value === 'file') {
    const f = trainFile.files?.[0];
    if (!f) {
      failed('choose a text file first');
      return;
    }
    src = { file: f, name: f.name };
  } else {
    // Resolved here: the worker would resolve a relative URL against its own script (dist/).
    src = { url: new URL(source.value, document.baseURI).href, name: source.value };
  }
  void modelJob(`training on ${src.name}`, { type: 'train', source: src, order, smoothing, text: textSettings() });
});

$<HTMLInputElement>('model-file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void modelJob(`loading ${f.name}`, { type: 'load', file: f, name: f.name });
});

// ---- sentence, next words, candidates ------------------------------------------------------

const sentence = $<HTMLInputElement>('sentence');
const candidates = $<HTMLTextAreaElement>('candidates');
const wordsEl = $('words');

/** Background for a probability: red (log10 ≤ -5) through yellow to green (log10 = 0). */
function shade(log10: number): string {
  const t = Number.isFinite(log10) ? Math.max(0, Math.min(1, 1 + log10 / 5)) : 0;
  return `hsl(${Math.round(120 * t)} 75% 82%)`;
}

function setOutput(id: string, value: number, digits: number): void {
  const el = $('' + id);
  el.dataset.value = String(value);
  el.textContent = Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

function render(text: string, r: AnalyzeResult): void {
  wordsEl.textContent = '';
  for (const w of r.words) {
    const span = document.createElement('span');
    const end = w === r.words[r.words.length - 1];
    span.className = `w${w.oov ? ' oov' : ''}${end ? ' end' : ''}`;
    span.textContent = w.word;
    span.style.background = shade(w.log10);
    span.dataset.word = w.word;
    span.dataset.log10 = String(w.log10);
    span.title = `log10 p = ${w.log10.toFixed(4)}  (p = ${Math.pow(10, w.log10).toPrecision(3)}${w.ngram ? `, ${w.ngram}-gram` : ''}${w.oov ? ', unknown word' : ''})`;
    wordsEl.append(span);
  }
  setOutput('total', r.total, 4);
  setOutput('perplexity', r.perplexity, 2);
  setOutput('perplexity-oov', r.perplexityExcludingOov, 2);
  setOutput('oov', r.oov, 0);

  const next = $('next');
  next.textContent = '';
  const top = r.next[0]?.probability ?? 1;
  for (const n of r.next) {
    const li = document.createElement('li');
    li.dataset.word = n.word;
    li.dataset.probability = String(n.probability);
    const word = document.createElement('span');
    word.className = 'word';
    word.textContent = n.word;
    const p = document.createElement('span');
    p.className = 'p';
    p.textContent = n.probability.toFixed(4);
    const barEl = document.createElement('span');
    barEl.className = 'pbar';
    barEl.style.width = `${((40 * n.probability) / top).toFixed(1)}%`; // of the line: fits any width
    li.append(word, p, barEl);
    li.title = `log10 p = ${n.log10.toFixed(4)}`;
    next.append(li);
  }
  $('next-note').textContent = r.nextNote ?? '';

  const ranked = $('ranked');
  ranked.textContent = '';
  for (const c of r.ranked) {
    const li = document.createElement('li');
    li.dataset.sentence = c.sentence;
    li.dataset.total = String(c.total);
    li.dataset.oov = String(c.oov);
    li.textContent = c.sentence;
    const s = document.createElement('span');
    s.className = 'score';
    s.textContent = `log10 ${c.total.toFixed(3)} · ppl ${c.perplexity.toFixed(1)}`;
    li.append(s);
    ranked.append(li);
  }
  // Set last: the test waits for this to name the text it typed and the current model.
  wordsEl.dataset.for = `${serial}:${text}`;
}

let analyzing = false;
let again = false;

/** Scores the sentence and candidates with the current model (one request in flight at a time). */
async function refresh(): Promise<void> {
  if (serial === 0) return;
  if (analyzing) {
    again = true;
    return;
  }
  analyzing = true;
  try {
    do {
      again = false;
      const text = sentence.value;
      const r = await ask<AnalyzeResult>({ type: 'analyze', sentence: text, candidates: candidates.value.split('\n'), k: 10, text: textSettings() });
      if (!again) render(text, r);
    } while (again);
  } catch (e) {
    $('next-note').textContent = (e as Error).message;
  } finally {
    analyzing = false;
  }
}

sentence.addEventListener('input', () => void refresh());
candidates.addEventListener('input', () => void refresh());
$('segment').addEventListener('change', () => void refresh());
$('lowercase').addEventListener('change', () => void refresh());

// ---- samples --------------------------------------------------------------------------------

$('sample').addEventListener('click', async () => {
  const out = $('samples');
  try {
    const r = await ask<SampleResult>({
      type: 'sample',
      prefix: $<HTMLInputElement>('prefix').value,
      seed: Number($<HTMLInputElement>('seed').value) || 0,
      count: Math.max(1, Math.min(20, Number($<HTMLInputElement>('count').value) || 1)),
      maxWords: 40,
      text: textSettings(),
    });
    out.textContent = '';
    for (const s of r.samples) {
      const li = document.createElement('li');
      li.textContent = s.text;
      li.dataset.words = s.words.join(' ');
      out.append(li);
    }
    out.dataset.seed = $<HTMLInputElement>('seed').value;
  } catch (e) {
    out.textContent = (e as Error).message;
  }
});

// A small default model, so the page is useful at once: trained from the embedded corpus.
$('train').click();
