/**
 * Progress of n-gram estimation on stderr: stage lines as they start, and on a terminal one line
 * updated in place with what the stage has done (bytes read, rows, runs left to merge), its rate
 * and, where the total is known, the time left. A log (`--verbose` off a terminal) gets a line
 * every 30 seconds; otherwise nothing.
 */
import type { PipelineLog } from '../ngram/pipeline.js';
import { formatCount, type CommandIO } from './common.js';

const UNITS: Record<string, string> = { reading: 'bytes', 'merging count runs': 'runs left' };

function amount(n: number, unit: string): string {
  if (unit === 'bytes') return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
  return `${formatCount(n)} ${unit}`;
}

/** A PipelineLog that shows stages and progress through `io`. */
export function ngramProgress(io: CommandIO): PipelineLog & { done(): void } {
  const tty = process.stderr.isTTY === true;
  let overwrite = false;
  let stage = '';
  let started = 0;
  let shown = -Infinity;
  const line = (text: string) => {
    io.progress((overwrite && tty ? '\x1b[1A\x1b[2K' : '') + text);
    overwrite = tty;
  };
  return {
    warn: (m) => {
      overwrite = false;
      io.log.warn(m);
    },
    info: (m) => {
      overwrite = false;
      io.progress(m);
    },
    progress: (name, done, total) => {
      const now = performance.now();
      if (name !== stage) {
        stage = name;
        started = now;
      }
      if (now - shown < (tty ? 500 : 30000)) return;
      shown = now;
      const unit = UNITS[name] ?? 'rows';
      const seconds = (now - started) / 1000;
      let text = `${name}: ${amount(done, unit)}`;
      if (unit !== 'runs left' && seconds > 1) text += `, ${amount(Math.round(done / seconds), unit)}/s`;
      if (total > 0 && done > 0 && seconds > 1) text += `, ${Math.round((100 * done) / total)}%, about ${Math.ceil(((total - done) * seconds) / done)} s left`;
      line(text);
    },
    done: () => {
      overwrite = false;
    },
  };
}
