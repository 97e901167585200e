import { lineBatches } from '../node/batches.js';
import { runBatches, type RunOptions } from '../node/workers.js';
import type { PartialError } from '../apps/score-text.js';
import type { LanguageModel } from '../lm.js';
import { KotobaError } from '../errors.js';
import type { DocumentOptions, JsonlPart } from '../apps/documents.js';
import type { LineOptions } from '../node/io.js';
import type { Parsed } from './args.js';
import { commonOptions, contextOf, contextOption, lineOptions, lineOptionsOf, openScoringModel, textOptions, threadsOptions, type Command, type CommandIO } from './common.js';

function documentOptionsOf(o: Parsed['options']): DocumentOptions {
  const out: DocumentOptions = {};
  if (typeof o.field === 'string') {
    if (o.field === '') throw new KotobaError('--field needs a field name', 'e.g. --field text');
    out.field = o.field;
  }
  if (typeof o['max-perplexity'] === 'number') out.maxPerplexity = o['max-perplexity'];
  if (typeof o['min-perplexity'] === 'number') out.minPerplexity = o['min-perplexity'];
  return out;
}

export const score: Command = {
  name: 'score',
  summary: 'log10 probability of each sentence (per word with --words, like KenLM query), or of JSON-lines documents',
  usage: 'kotoba score MODEL [FILE|-]',
  positionals: { names: ['MODEL', 'FILE'], required: 1 },
  examples: [
    'echo "the cat sat" | kotoba score wiki.arpa',
    'kotoba score --words --json wiki.arpa corpus/wiki.valid.txt',
    'kotoba score --jsonl --max-perplexity 1000 wiki.kblm docs.jsonl > kept.jsonl',
  ],
  options: {
    words: { type: 'boolean', short: 'w', description: 'per-word scores: word=id ngram-length log10, as KenLM query prints them' },
    jsonl: { type: 'boolean', description: 'input is JSON lines, one document each: write each back with perplexity, log10_total, tokens and oov added' },
    field: { type: 'string', value: 'NAME', description: 'with --jsonl: the field holding the text (default: text); its lines are sentences' },
    'max-perplexity': { type: 'number', value: 'P', min: 1, description: 'with --jsonl: keep only documents of perplexity at most P' },
    'min-perplexity': { type: 'number', value: 'P', min: 1, description: 'with --jsonl: keep only documents of perplexity at least P' },
    'skip-bad': { type: 'boolean', description: 'with --jsonl: skip lines that are not JSON objects with a text field (counted on stderr) instead of stopping' },
    ...textOptions,
    ...contextOption,
    ...lineOptions,
    ...threadsOptions,
    ...commonOptions,
  },
  files: ({ positionals: [model, input = '-'] }) => ({ models: [{ path: model, as: 'the model' }], inputs: [{ path: input, as: 'the text' }], outputs: [] }),
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals as [string, string?];
    const o = parsed.options;
    const jsonl = Boolean(o.jsonl);
    if (!jsonl) {
      for (const name of ['field', 'max-perplexity', 'min-perplexity', 'skip-bad']) {
        if (o[name] !== undefined) throw new KotobaError(`--${name} is for JSON lines`, 'add --jsonl');
      }
    } else if (o.words) throw new KotobaError('--words does not go with --jsonl', 'score documents, or lines word by word, not both');
    const documents = jsonl ? documentOptionsOf(o) : {};
    const { lm, run } = await openScoringModel(modelPath, o, io, input);
    // Documents are independent: each is scored from <s>, whatever context the model was trained in.
    if (jsonl && o.context === 'stream') throw new KotobaError('--jsonl scores each document on its own', 'drop --context stream');
    const context = jsonl ? 'sentence' : contextOf(o, lm);
    const lines = lineOptionsOf(o);
    try {
      if (!jsonl) {
        // In stream context each line continues from the state after the line before.
        const format = { words: Boolean(o.words), json: Boolean(o.json) };
        for await (const text of runBatches(lm, lineBatches(input, lines), { kind: 'score', format, context }, run)) await io.stdout(text as string);
      } else await scoreDocumentLines(lm, input, lines, documents, Boolean(o['skip-bad']), run, io);
    } catch (e) {
      // The output of the lines before a bad one, then the error.
      const partial = (e as PartialError).partial;
      if (partial) await io.stdout(partial);
      throw e;
    }
  },
};

/** `score --jsonl`: documents scored in batches, kept or dropped by perplexity, written in order. */
async function scoreDocumentLines(
  lm: LanguageModel<unknown>, input: string, lines: LineOptions, documents: DocumentOptions, skipBad: boolean, run: RunOptions, io: CommandIO,
): Promise<void> {
  let documentCount = 0;
  let kept = 0;
  let bad = 0;
  let firstBad: string | undefined;
  const job = { kind: 'jsonl' as const, documents, skipBad };
  for await (const result of runBatches(lm, lineBatches(input, lines), job, run)) {
    const part = result as JsonlPart;
    documentCount += part.documents;
    kept += part.kept;
    bad += part.bad;
    firstBad ??= part.firstBad;
    await io.stdout(part.text);
  }
  if (bad > 0) io.log.warn(`skipped ${bad} bad line${bad === 1 ? '' : 's'} (the first: ${firstBad})`);
  io.progress(`scored ${documentCount} documents, kept ${kept}`);
}
