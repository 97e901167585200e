/**
 * A training report: one self-contained HTML page (inline SVG, no scripts) with the loss and the
 * validation perplexity per epoch and the history as a table. Browser-safe.
 */
import { escapeXml, htmlPage, htmlTable, lineChart } from '../util/report.js';
import type { EpochRecord } from './trainer.js';

/**
 * The HTML report of a training run.
 *
 * @example
 * ```ts
 * import { trainingReport, type EpochRecord } from 'kotoba';
 * import { writeFileAtomic } from 'kotoba/node';
 * declare const history: EpochRecord[]; // a Trainer's state.history, or a model file's
 * await writeFileAtomic('lstm.html', trainingReport('LSTM 2×200', history));
 * ```
 */
export function trainingReport(title: string, history: readonly EpochRecord[], notes: readonly string[] = []): string {
  const x = (r: EpochRecord, i: number) => (r.partial ? i + 0.5 : r.epoch);
  const loss = lineChart({
    title: 'Loss per epoch (nats per token)',
    xLabel: 'epoch',
    yLabel: 'cross-entropy (nats)',
    series: [
      { name: 'training', points: history.map((r, i) => [x(r, i), r.trainLoss] as const) },
      { name: 'validation', points: history.map((r, i) => [x(r, i), r.validLoss ?? NaN] as const), dashed: true },
    ],
  });
  const ppl = lineChart({
    title: 'Perplexity per epoch',
    xLabel: 'epoch',
    yLabel: 'perplexity',
    logY: true,
    series: [
      { name: 'training', points: history.map((r, i) => [x(r, i), r.trainPerplexity] as const) },
      { name: 'validation', points: history.map((r, i) => [x(r, i), r.validPerplexity ?? NaN] as const), dashed: true },
    ],
  });
  const table = htmlTable(
    ['epoch', 'train loss', 'train ppl', 'valid loss', 'valid ppl', 'learning rate', 'tokens/s', 'seconds'],
    history.map((r) => [
      r.partial ? `${r.epoch} (partial)` : r.epoch,
      r.trainLoss.toFixed(4),
      r.trainPerplexity.toFixed(2),
      r.validLoss === null ? '–' : r.validLoss.toFixed(4),
      r.validPerplexity === null ? '–' : r.validPerplexity.toFixed(2),
      r.lr.toPrecision(4),
      Math.round(r.tokensPerSecond),
      r.seconds.toFixed(1),
    ]),
    [false, true, true, true, true, true, true, true],
  );
  const body =
    `<h1>${escapeXml(title)}</h1>\n` +
    notes.map((n) => `<p class="note">${escapeXml(n)}</p>\n`).join('') +
    `<div class="charts">\n${loss}\n${ppl}\n</div>\n${table}\n`;
  return htmlPage(title, body);
}
