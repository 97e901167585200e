import { Sampler } from '../apps/generate.js';
import { stripSentenceStart } from '../apps/nextword.js';
import { Random } from '../util/random.js';
import { loadModel } from '../node/models.js';
import { tokenizer } from '../text/tokenize.js';
import { commonOptions, seedOption, threadsOf, threadsOptions, textOptions, textOptionsFor, toJson, type Command } from './common.js';

export const generate: Command = {
  name: 'generate',
  summary: 'sample sentences from a model (reproducible with --seed)',
  usage: 'kotoba generate MODEL [--prefix TEXT] [--count N] [--temperature T] [--top-k K] [--seed S] [--max-words M]',
  positionals: { names: ['MODEL'], required: 1, extraHint: 'give the start of the sentences with --prefix "…"' },
  examples: [
    'kotoba generate --seed 1 --count 3 wiki.kblm',
    'kotoba generate --prefix "the game" --temperature 0.7 --top-k 40 --seed 7 wiki.kblm',
  ],
  options: {
    prefix: { type: 'string', value: 'TEXT', description: 'words every sentence starts with (after <s>)' },
    count: { type: 'integer', min: 1, formerShort: 'n', description: 'how many sentences (default 1)' },
    temperature: { type: 'number', value: 'T', min: 0, formerShort: 't', description: 'p^(1/T), renormalised: < 1 sharper, > 1 flatter, 0 = always the most probable word (default 1)' },
    'top-k': { type: 'integer', short: 'k', value: 'K', min: 1, description: 'draw only among the K most probable words (default: all)' },
    'max-words': { type: 'integer', value: 'M', min: 1, description: 'stop a sentence after M generated words (default 100)' },
    'no-unk': { type: 'boolean', description: 'never draw <unk>' },
    ...textOptions,
    ...seedOption,
    ...threadsOptions,
    ...commonOptions,
  },
  files: (parsed) => ({ models: [{ path: parsed.positionals[0], as: 'the model' }], outputs: [] }),
  async run(parsed, io) {
    const [modelPath] = parsed.positionals as [string];
    const o = parsed.options;
    const count = typeof o.count === 'number' ? o.count : 1;
    // Without --seed, a fresh seed, said on stderr (and in --json) so the run can be repeated.
    const seed = typeof o.seed === 'number' ? o.seed : Math.floor(Math.random() * 2 ** 31);
    if (typeof o.seed !== 'number') io.log.info(`seed ${seed} (pass --seed ${seed} to repeat this run)`);
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    const text = textOptionsFor(lm, o, modelPath);
    const prefix = typeof o.prefix === 'string' ? tokenizer(text)(stripSentenceStart(o.prefix)) : [];
    const sampler = new Sampler(lm, {
      random: new Random(seed),
      prefix,
      unk: !o['no-unk'],
      ...(typeof o.temperature === 'number' ? { temperature: o.temperature } : {}),
      ...(typeof o['top-k'] === 'number' ? { topK: o['top-k'] } : {}),
      ...(typeof o['max-words'] === 'number' ? { maxWords: o['max-words'] } : {}),
    });
    let out = '';
    for (let i = 0; i < count; i++) {
      const s = sampler.sample();
      if (o.json) out += toJson({ text: s.words.join(' '), words: s.words, prefix_words: s.prefixLength, log10: s.log10, ended: s.ended, seed, index: i }) + '\n';
      else out += s.words.join(' ') + '\n';
      if (out.length > 1 << 16) {
        await io.stdout(out);
        out = '';
      }
    }
    await io.stdout(out);
  },
};
