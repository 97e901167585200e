import { MixtureModel, sharedTextOptions, tuneWeights, type EmResult } from '../apps/mixture.js';
import { mixNgramTables } from '../ngram/mixture-arpa.js';
import { KotobaError } from '../errors.js';
import { scoreTokens, type LanguageModel } from '../lm.js';
import { BackoffModel } from '../ngram/model.js';
import { readCorpus } from '../node/corpus-files.js';
// Importing the mixture files module registers its loader, so every command opens mixtures.
import { saveMixture } from '../node/mixture-files.js';
import { loadModel } from '../node/models.js';
import { formatForPath, saveNgramModel } from '../node/ngram-files.js';
import { commonOptions, fmt, formatCount, lineOptions, lineOptionsOf, textOptions, textOptionsFor, threadsOf, threadsOptions, toJson, type Command } from './common.js';

export const interpolate: Command = {
  name: 'interpolate',
  summary: 'mix models linearly (weights tuned by EM on a development text), as a mixture file or one ARPA file',
  usage: 'kotoba interpolate MODEL1 MODEL2 … (--tune DEV | --weights W1 W2 …) [-o MIX] [--arpa OUT.arpa]',
  positionals: { names: ['MODEL1', 'MODEL2'], required: 2, repeats: true },
  examples: [
    'kotoba interpolate wiki3.kblm wiki1.kblm --tune corpus/wiki.valid.txt -o wiki.mix.json',
    'kotoba interpolate a.arpa b.arpa --weights 0.7 0.3 --arpa ab.arpa',
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'MIX', description: 'write the mixture file (JSON naming the models, relative to it); every command opens it as a model' },
    tune: { type: 'string', value: 'DEV', description: 'tune the weights by EM on this development text' },
    weights: { type: 'numbers', value: 'W…', min: 0, max: 1, description: 'the weights, one per model, summing to 1 (instead of --tune; default: equal)' },
    arpa: { type: 'string', value: 'FILE', description: 'n-gram models only: also write the mixture as one backoff model (.arpa, .arpa.gz or .kblm), as SRILM ngram -mix-lm -write-lm' },
    'max-iterations': { type: 'integer', min: 1, description: 'EM: at most this many iterations (default 500)' },
    tolerance: { type: 'number', value: 'ε', min: 0, description: 'EM: stop when an iteration gains less than this in log10 likelihood per token (default 1e-7)' },
    ...textOptions,
    ...lineOptions,
    ...threadsOptions,
    ...commonOptions,
  },
  files: (parsed) => ({
    models: parsed.positionals.map((path) => ({ path, as: 'the model' })),
    inputs: [{ path: parsed.options.tune, as: '--tune' }],
    outputs: [{ path: parsed.options.output, as: '-o' }, { path: parsed.options.arpa, as: '--arpa' }],
  }),
  async run(parsed, io) {
    const o = parsed.options;
    const paths = parsed.positionals;
    const output = typeof o.output === 'string' ? o.output : undefined;
    const arpa = typeof o.arpa === 'string' ? o.arpa : undefined;
    const dev = typeof o.tune === 'string' ? o.tune : undefined;
    if (!output && !arpa && !dev) throw new KotobaError('nothing to do', 'pass -o MIX to write a mixture file, --arpa OUT.arpa for one n-gram model, or --tune DEV to see the tuned weights');
    if (dev && Array.isArray(o.weights)) throw new KotobaError('--tune and --weights both given', 'either tune the weights on a text or give them');
    if (arpa) formatForPath(arpa); // fail on a bad extension before any work
    const threads = threadsOf(o);
    const models: LanguageModel<unknown>[] = [];
    for (const p of paths) {
      io.progress(`loading ${p}`);
      models.push(await loadModel(p, io.log.warn, { threads }));
    }
    if (arpa) {
      const bad = models.findIndex((m) => !(m instanceof BackoffModel));
      if (bad >= 0) throw new KotobaError(`--arpa needs n-gram models; ${paths[bad]} is a ${models[bad]!.description}`, 'write a mixture file with -o instead: it mixes any models');
    }
    // One way of reading text for all: the components' own, or the flags for those that do not say.
    const text = textOptionsFor({ text: sharedTextOptions(models, paths) }, o, 'the mixture');
    let mix = new MixtureModel(models, Array.isArray(o.weights) ? o.weights : undefined);
    mix.text = text;
    let em: EmResult | undefined;
    let report = '';
    if (dev) {
      io.progress(`reading ${dev}`);
      // The development text in the mixture's vocabulary: unknown words become <unk>.
      const corpus = await readCorpus(dev, { ...text, ...lineOptionsOf(o), vocab: mix.vocab });
      em = tuneWeights(mix, corpus.tokens, {
        ...(typeof o['max-iterations'] === 'number' ? { maxIterations: o['max-iterations'] } : {}),
        ...(typeof o.tolerance === 'number' ? { tolerance: o.tolerance } : {}),
        onIteration: (it) => {
          const line = `iteration ${it.iteration}: weights ${it.weights.map(fmt).join(' ')}  dev perplexity ${fmt(it.perplexity)}`;
          io.progress(line);
          report += line + '\n';
        },
      });
      mix = mix.withWeights(em.weights);
      if (em.zeroProbability > 0) io.log.warn(`${em.zeroProbability} development tokens have probability 0 under every model; they were left out`);
      if (!em.converged) io.log.warn(`EM stopped after ${em.iterations.length - 1} iterations before converging`);
    }
    const weights = Array.from(mix.weights);
    const tuning = em
      ? { method: 'EM', dev, tokens: em.tokens, converged: em.converged, iterations: em.iterations.map((it) => ({ iteration: it.iteration, weights: it.weights, perplexity: it.perplexity })) }
      : { method: Array.isArray(o.weights) ? 'given' : 'equal' };
    if (output) {
      await saveMixture(output, paths, weights, tuning, text);
      await io.wrote(output, `mixture of ${paths.length} models`);
    }
    let arpaInfo: Record<string, unknown> | undefined;
    if (arpa) {
      io.progress(`writing the mixture as one n-gram model: ${arpa}`);
      const tables = { ...mixNgramTables(models as BackoffModel[], weights, { info: io.progress }), text };
      await saveNgramModel(arpa, tables);
      arpaInfo = { path: arpa, ngrams: tables.orders.map((t) => t.size) };
      await io.wrote(arpa, `order ${tables.orders.length}, ${formatCount(tables.orders.reduce((n, t) => n + t.size, 0))} n-grams`);
      if (dev) {
        // How close the static model comes to the exact mixture, on the development text.
        const merged = BackoffModel.fromTables(tables);
        const corpus = await readCorpus(dev, { ...text, ...lineOptionsOf(o), vocab: merged.vocab });
        arpaInfo.dev_perplexity = scoreTokens(merged, corpus.tokens).perplexity;
      }
    }
    if (o.json) {
      await io.stdout(toJson({ models: paths, weights, ...(em ? { dev_perplexity: em.iterations[em.iterations.length - 1]!.perplexity, tuning } : {}), ...(output ? { mixture: output } : {}), ...(arpaInfo ? { arpa: arpaInfo } : {}) }) + '\n');
      return;
    }
    let out = report;
    out += `weights: ${paths.map((p, i) => `${p} ${fmt(weights[i]!)}`).join(', ')}\n`;
    if (em) out += `dev perplexity of the mixture: ${fmt(em.iterations[em.iterations.length - 1]!.perplexity)}${em.converged ? '' : ' (not converged)'}\n`;
    if (arpaInfo?.dev_perplexity !== undefined) out += `dev perplexity of the single ARPA model (static mixture): ${fmt(arpaInfo.dev_perplexity as number)}\n`;
    await io.stdout(out);
  },
};
