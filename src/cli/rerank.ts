import { CandidateReader, rerankGroup, type CandidateFormat, type CandidateGroup, type RankedCandidate, type RerankOptions } from '../apps/rerank.js';
import { KotobaError, at } from '../errors.js';
import { readLines } from '../node/io.js';
import { loadModel } from '../node/models.js';
import { tokenizer } from '../text/tokenize.js';
import { commonOptions, fmt32 as num, lineOptions, lineOptionsOf, textOptions, textOptionsFor, threadsOf, threadsOptions, toJson, type Command } from './common.js';

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
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    const options: RerankOptions = { tokenize: tokenizer(textOptionsFor(lm, o, modelPath)), normalize: Boolean(o.normalize), source: input };
    if (typeof o.weight === 'number') options.weight = o.weight;
    const reader = new CandidateReader({ format: format as CandidateFormat | 'auto', source: input });
    let buf = '';
    let groups = 0;
    let first = true;
    const emit = async (group: CandidateGroup): Promise<void> => {
      if (options.weight !== undefined && reader.format === 'plain') {
        throw new KotobaError(`${at(input, group.candidates[0]!.line)}--weight needs the n-best format: plain candidates have no score of their own`, 'drop --weight, or give id ||| sentence ||| features ||| score lines');
      }
      const ranked = rerankGroup(lm, group, options).slice(0, top);
      groups++;
      if (o.json) buf += toJson({ id: group.id, candidates: ranked.map(jsonCandidate) }) + '\n';
      else if (reader.format === 'nbest') for (const c of ranked) buf += nbestLine(group.id, c);
      else {
        if (!first) buf += '\n';
        for (const c of ranked) buf += `${num(c.total)}\t${num(c.log10)}\t${c.sentence}\n`;
      }
      first = false;
      if (buf.length > 1 << 16) {
        await io.stdout(buf);
        buf = '';
      }
    };
    for await (const line of readLines(input, lineOptionsOf(o))) {
      const g = reader.push(line);
      if (g) await emit(g);
    }
    const last = reader.finish();
    if (last) await emit(last);
    await io.stdout(buf);
    if (groups === 0) throw new KotobaError(`${at(input)}no candidates to rank`, 'give candidate sentences, one per line, groups separated by blank lines (or a Moses n-best list)');
  },
};

/** A Moses n-best line again, with the model's score added as the feature `kotoba=` and the new total. */
function nbestLine(id: string, c: RankedCandidate): string {
  const features = `${c.features ?? ''}${c.features ? ' ' : ''}kotoba= ${num(c.lm)}`;
  const rest = c.rest ? c.rest.map((r) => ` ||| ${r}`).join('') : '';
  return `${id} ||| ${c.sentence} ||| ${features} ||| ${num(c.total)}${rest}\n`;
}

function jsonCandidate(c: RankedCandidate): Record<string, unknown> {
  const out: Record<string, unknown> = {
    rank: c.rank,
    index: c.index,
    sentence: c.sentence,
    score: c.total,
    log10: c.log10,
    lm: c.lm,
    tokens: c.tokens,
    oov: c.oov,
  };
  if (c.score !== undefined) out.system_score = c.score;
  if (c.features !== undefined) out.features = c.features;
  return out;
}
