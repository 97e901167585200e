import { contextState, nextWords, stripSentenceStart } from '../apps/nextword.js';
import { KotobaError } from '../errors.js';
import { loadModel } from '../node/models.js';
import { tokenizer } from '../text/tokenize.js';
import { BOS_WORD } from '../text/vocabulary.js';
import { commonOptions, threadsOf, threadsOptions, textOptions, textOptionsOf, toJson, type Command } from './common.js';

export const next: Command = {
  name: 'next',
  summary: 'the most probable next words after a context, with their probabilities',
  usage: 'kotoba next MODEL [CONTEXT…] [-k K] [--no-unk] [--json]',
  examples: ['kotoba next wiki.kblm "the game was"', 'kotoba next -k 5 --json wiki.kblm "<s> in 2011"'],
  options: {
    top: { type: 'integer', short: 'k', value: 'K', description: 'how many words to list (default 10)' },
    'no-unk': { type: 'boolean', description: 'leave <unk> out of the list' },
    ...textOptions,
    ...threadsOptions,
    ...commonOptions,
  },
  async run(parsed, io) {
    const [modelPath, ...contextParts] = parsed.positionals;
    if (!modelPath) throw new KotobaError('no model given', 'usage: kotoba next MODEL [CONTEXT…]');
    const o = parsed.options;
    const k = typeof o.top === 'number' ? o.top : 10;
    if (k < 1) throw new KotobaError(`-k must be at least 1, not ${k}`);
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    // The context starts a sentence: a leading <s> is optional.
    const words = tokenizer(textOptionsOf(o))(stripSentenceStart(contextParts.join(' ')));
    const ctx = contextState(lm, words);
    if (ctx.oov > 0) io.log.warn(`${ctx.oov} context word${ctx.oov > 1 ? 's are' : ' is'} not in the model's vocabulary: read as <unk>`);
    const list = nextWords(lm, ctx.state, k, { unk: !o['no-unk'] });
    if (o.json) {
      await io.stdout(toJson({ context: ctx.words, oov: ctx.oov, next: list.map((w) => ({ word: w.word, probability: w.probability, log10: w.log10 })) }) + '\n');
      return;
    }
    let out = `# p(w | ${[BOS_WORD, ...ctx.words].join(' ')})\n`;
    for (const w of list) out += `${w.probability.toFixed(6)}\t${w.log10.toFixed(4)}\t${w.word}\n`;
    await io.stdout(out);
  },
};
