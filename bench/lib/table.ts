/**
 * Markdown tables for benchmark reports, and the numbers in them: a value with its unit, and
 * the ratio kotoba / peer with the direction that is better, so that a reader never has to
 * guess whether 0.5× is good.
 */

/** One row: a label and one cell per column ('' for none). */
export type Row = [string, ...string[]];

/** A Markdown table (pipes padded so that it also reads as plain text). */
export function markdownTable(header: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(3, ...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    '| ' + widths.map((w, c) => ((align?.[c] ?? (c === 0 ? 'l' : 'r')) === 'l' ? (r[c] ?? '').padEnd(w) : (r[c] ?? '').padStart(w))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, c) => ((align?.[c] ?? (c === 0 ? 'l' : 'r')) === 'l' ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** A number with about `digits` significant digits, no exponent for everyday sizes. */
export function num(x: number, digits = 3): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 10 ** digits) return Math.round(x).toLocaleString('en-US');
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(a)));
  return x.toFixed(Math.min(decimals, 6));
}

export const seconds = (s: number) => (Number.isFinite(s) ? `${num(s)} s` : '–');
export const megabytes = (mb: number) => (Number.isFinite(mb) ? `${num(mb)} MB` : '–');
/** Words (or tokens) per second in millions. */
export const perSecond = (n: number) => (Number.isFinite(n) ? (n >= 1e5 ? `${num(n / 1e6)} M/s` : `${num(n)} /s`) : '–');

/**
 * kotoba / peer, e.g. "0.42×". For times and memory lower is better; for throughput higher is
 * better; the direction is said in the table's legend, not here.
 */
export function ratio(ours: number, theirs: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(theirs) || theirs === 0) return '–';
  return `${num(ours / theirs, 2)}×`;
}
