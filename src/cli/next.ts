import { contextState, nextWords, stripSentenceStart } from '../apps/nextword.js';
import { loadModel } from '../node/models.js';
import { tokenizer } from '../text/tokenize.js';
import { BOS_WORD } from '../text/vocabulary.js';
import { commonOptions, fmt32, threadsOf, threadsOptions, textOptions, textOptionsFor, toJson, type Command } from './common.js';

export const next: Command = {
  name: 'next',
  summary: 'the most probable next words after a context, with their probabilities',
  usage: 'kotoba next MODEL [CONTEXT…] [-k K] [--no-unk] [--json]',
  positionals: { names: ['MODEL', 'CONTEXT'], required: 1, repeats: true },
  examples: ['kotoba next wiki.kblm "the game was"', 'kotoba next -k 5 --json wiki.kblm "<s> in 2011"'],
  options: {
    'top-k': { type: 'integer', short: 'k', value: 'K', min: 1, deprecated: ['top'], description: 'list the K most probable words (default 10)' },
    'no-unk': { type: 'boolean', description: 'leave <unk> out of the list' },
    ...textOptions,
    ...threadsOptions,
    ...commonOptions,
  },
  files: (parsed) => ({ models: [{ path: parsed.positionals[0], as: 'the model' }], outputs: [] }),
  async run(parsed, io) {
    const [modelPath, ...contextParts] = parsed.positionals as [string, ...string[]];
    const o = parsed.options;
    const k = typeof o['top-k'] === 'number' ? o['top-k'] : 10;
    const lm = await loadModel(modelPath, io.log.warn, { threads: threadsOf(parsed.options) });
    // The context starts a sentence: a leading <s> is optional.
    const words = tokenizer(textOptionsFor(lm, o, modelPath))(stripSentenceStart(contextParts.join(' ')));
    const ctx = contextState(lm, words);
    if (ctx.oov > 0) io.log.warn(`${ctx.oov} context word${ctx.oov > 1 ? 's are' : ' is'} not in the model's vocabulary: read as <unk>`);
    const list = nextWords(lm, ctx.state, k, { unk: !o['no-unk'] });
    if (o.json) {
      await io.stdout(toJson({ context: ctx.words, oov: ctx.oov, next: list.map((w) => ({ word: w.word, probability: w.probability, log10: w.log10 })) }) + '\n');
      return;
    }
    let out = `# p(w | ${[BOS_WORD, ...ctx.words].join(' ')})\n`;
    for (const w of list) out += `${fmt32(w.probability)}\t${fmt32(w.log10)}\t${w.word}\n`;
    await io.stdout(out);
  },
};
