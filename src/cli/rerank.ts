import { CandidateReader, type CandidateFormat, type CandidateGroup } from '../apps/rerank.js';
import type { GroupBatch } from '../apps/score-text.js';
import { KotobaError, at } from '../errors.js';
import { BATCH_BYTES } from '../node/batches.js';
import { readLines } from '../node/io.js';
import { runBatches } from '../node/workers.js';
import { commonOptions, lineOptions, lineOptionsOf, openScoringModel, textOptions, threadsOptions, type Command } from './common.js';

export const rerank: Command = {
  name: 'rerank',
  summary: 'order candidate sentences (n-best lists or plain groups) by the model',
  usage: 'kotoba rerank MODEL [FILE|-] [--format nbest|plain] [--weight λ] [--normalize] [--top-k K] [--json]',
  positionals: { names: ['MODEL', 'FILE'], required: 1 },
  examples: [
    'kotoba rerank wiki.kblm candidates.txt',
    'kotoba rerank --weight 0.5 --top-k 1 wiki.kblm moses.nbest',
  ],
  options: {
    format: { type: 'string', value: 'FORMAT', description: "nbest (Moses: id ||| sentence ||| features ||| score), plain (one candidate per line, blank line between groups), or auto (default: nbest when the first line has '|||')" },
    weight: { type: 'number', value: 'λ', description: 'rank by λ · log10 p + the n-best score (default: by log10 p alone)' },
    normalize: { type: 'boolean', description: 'use log10 p per token (words + </s>) instead of log10 p, so long candidates are not penalised for their length' },
    'top-k': { type: 'integer', short: 'k', value: 'K', min: 1, deprecated: ['top'], description: 'print only the K best candidates of each group' },
    ...textOptions,
    ...lineOptions,
    ...threadsOptions,
    ...commonOptions,
  },
  files: ({ positionals: [model, input = '-'] }) => ({ models: [{ path: model, as: 'the model' }], inputs: [{ path: input, as: 'the candidates' }], outputs: [] }),
  async run(parsed, io) {
    const [modelPath, input = '-'] = parsed.positionals as [string, string?];
    const o = parsed.options;
    const format = typeof o.format === 'string' ? o.format : 'auto';
    if (format !== 'auto' && format !== 'nbest' && format !== 'plain') throw new KotobaError(`unknown --format '${format}'`, 'use nbest, plain or auto');
    const top = typeof o['top-k'] === 'number' ? o['top-k'] : Infinity;
    const weight = typeof o.weight === 'number' ? o.weight : undefined;
    const { lm, run } = await openScoringModel(modelPath, o, io, input);
    const reader = new CandidateReader({ format: format as CandidateFormat | 'auto', source: input });
    let groups = 0;
    // Groups are read here (cheap) and ranked in batches, on worker threads when there are several.
    async function* batches(): AsyncGenerator<GroupBatch> {
      let batch: CandidateGroup[] = [];
      let size = 0;
      let first = true;
      const check = (group: CandidateGroup) => {
        if (weight !== undefined && reader.format === 'plain') {
          throw new KotobaError(`${at(input, group.candidates[0]!.line)}--weight needs the n-best format: plain candidates have no score of their own`, 'drop --weight, or give id ||| sentence ||| features ||| score lines');
        }
        groups++;
        batch.push(group);
        for (const c of group.candidates) size += c.sentence.length;
      };
      for await (const line of readLines(input, lineOptionsOf(o))) {
        const g = reader.push(line);
        if (g) check(g);
        if (size >= BATCH_BYTES) {
          yield { groups: batch, first };
          first = false;
          batch = [];
          size = 0;
        }
      }
      const last = reader.finish();
      if (last) check(last);
      if (batch.length > 0) yield { groups: batch, first };
    }
    const job = { kind: 'rerank' as const, ...(weight !== undefined ? { weight } : {}), normalize: Boolean(o.normalize), output: { format: 'plain' as CandidateFormat, json: Boolean(o.json), top } };
    const gen = batches();
    // The format is known once the first group is read; the job is made after that.
    const head = await gen.next();
    if (!head.done) {
      job.output.format = reader.format ?? 'plain';
      const all = (async function* () {
        yield head.value;
        yield* gen;
      })();
      for await (const text of runBatches(lm, all, job, run)) await io.stdout(text as string);
    }
    if (groups === 0) throw new KotobaError(`${at(input)}no candidates to rank`, 'give candidate sentences, one per line, groups separated by blank lines (or a Moses n-best list)');
  },
};
