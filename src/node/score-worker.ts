/**
 * A worker thread of `runBatches` (workers.ts): it builds the model it is sent (or loads it),
 * then runs the job on each batch it receives and posts the result back with the batch's id.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { batchRunner, type Batch, type BatchResult } from '../apps/score-text.js';
import { KotobaError } from '../errors.js';
import type { LanguageModel } from '../lm.js';
import { modelFromTransfer, type WorkerInit } from './workers.js';

const init = workerData as WorkerInit;
const port = parentPort!;

async function start(): Promise<(batch: Batch) => BatchResult> {
  let lm: LanguageModel<unknown>;
  if (init.model.kind === 'path') {
    // Models other than n-grams are loaded here (and only then are their loaders imported).
    await Promise.all([import('./neural-loader.js'), import('./mixture-files.js')]);
    lm = await (await import('./models.js')).loadModel(init.model.path);
  } else lm = modelFromTransfer(init.model);
  return batchRunner(lm, init.text, init.source, init.job);
}

const ready = start();
port.on('message', (m: { id: number; batch: Batch }) => {
  ready.then(
    (run) => {
      const result = run(m.batch);
      const transfer = typeof result === 'object' && 'totals' in result ? [result.totals.buffer, result.oovLog10.buffer] : [];
      port.postMessage({ id: m.id, result }, transfer as ArrayBuffer[]);
    },
    (e: unknown) => {
      throw e;
    },
  ).catch((e: unknown) => {
    const partial = (e as { partial?: string })?.partial;
    port.postMessage({ id: m.id, error: { message: (e as Error)?.message ?? String(e), kotoba: e instanceof KotobaError, partial } });
  });
});
