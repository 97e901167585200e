/**
 * Self-contained HTML reports with inline SVG charts: pure functions from numbers to strings,
 * browser-safe, no scripts, no fonts, no external files, readable without JavaScript (each
 * point carries a `<title>` tooltip). Used by `kotoba sweep` for perplexity, size and time
 * against the order, and by neural training for loss and validation perplexity per epoch.
 */

/** One line of a chart. */
export interface Series {
  name: string;
  /** (x, y) points, drawn in the given order; non-finite y values are skipped. */
  points: readonly (readonly [number, number])[];
  /** Draw the line dashed (e.g. a variant of another series). */
  dashed?: boolean;
  /** A CSS colour (default: the palette, by position). Give variants of one series the same colour. */
  color?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Logarithmic y axis (for sizes and times that span decades). Non-positive y are skipped. */
  logY?: boolean;
  /** Pixel size of the SVG (default 640 × 400). */
  width?: number;
  height?: number;
}

/** Okabe–Ito: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

/**
 * Escapes text for HTML and XML content and attribute values.
 *
 * @example
 * ```ts
 * // runs
 * import { escapeXml } from 'kotoba';
 * if (escapeXml('a < b & "c"') !== 'a &lt; b &amp; &quot;c&quot;') throw new Error('escaped');
 * ```
 */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * A number for a label: up to 4 significant digits, thousands as k, millions as M.
 *
 * @example
 * ```ts
 * // runs
 * import { formatNumber } from 'kotoba';
 * if (formatNumber(1234567) !== '1.235M' || formatNumber(0.000123) !== '0.000123') throw new Error('formatted');
 * ```
 */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  const sig = (v: number) => String(Number(v.toPrecision(4)));
  if (a >= 1e9) return `${sig(x / 1e9)}G`;
  if (a >= 1e6) return `${sig(x / 1e6)}M`;
  if (a >= 1e4) return `${sig(x / 1e3)}k`;
  return sig(x);
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
function linearTicks(lo: number, hi: number, count = 5): number[] {
  if (lo === hi) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** Decade ticks spanning [lo, hi] out to whole decades (with 2 and 5 between them when there are at most two). */
function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo) + 1e-9);
  let b = Math.ceil(Math.log10(hi) - 1e-9);
  if (b === a) b++;
  const mult = b - a <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = a; e <= b; e++) for (const m of mult) {
    const t = Number((m * Math.pow(10, e)).toPrecision(6));
    if (e < b || m === 1) out.push(t);
  }
  return out;
}

/**
 * A line chart as a standalone SVG element (inline it in HTML, or save it as a .svg file).
 *
 * @example
 * ```ts
 * // runs
 * import { lineChart } from 'kotoba';
 * const svg = lineChart({
 *   title: 'Perplexity vs order', xLabel: 'order N', yLabel: 'perplexity',
 *   series: [{ name: 'mkn', points: [[1, 962], [2, 341], [3, 292]] }],
 * });
 * if (!svg.startsWith('<svg')) throw new Error('an SVG element');
 * ```
 */
export function lineChart(options: LineChartOptions): string {
  const { title, xLabel, yLabel, logY = false } = options;
  const W = options.width ?? 640;
  const H = options.height ?? 400;
  const m = { left: 72, right: 24, top: 40, bottom: 52 };
  const series = options.series.map((s) => ({
    ...s,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)),
  }));
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const legendRows = series.length;
  const legendH = 18 * legendRows + 8;
  const plotTop = m.top + legendH;
  const plotW = W - m.left - m.right;
  const plotH = H - plotTop - m.bottom;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(title)}">`;
  svg += `<title>${escapeXml(title)}</title>`;
  svg += `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`;
  svg += `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold" font-family="sans-serif">${escapeXml(title)}</text>`;
  if (xs.length === 0) {
    svg += `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="13" font-family="sans-serif">no data</text></svg>`;
    return svg;
  }
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (x0 === x1) {
    x0 -= 1;
    x1 += 1;
  }
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  let yTicks: number[];
  if (logY) {
    yTicks = logTicks(y0, y1);
    y0 = Math.min(y0, yTicks[0]!);
    y1 = Math.max(y1, yTicks[yTicks.length - 1]!);
    if (y0 === y1) {
      y0 /= 2;
      y1 *= 2;
    }
  } else {
    if (y0 === y1) {
      y0 -= Math.abs(y0) * 0.1 || 1;
      y1 += Math.abs(y1) * 0.1 || 1;
    }
    const pad = (y1 - y0) * 0.05;
    y0 = y0 >= 0 && y0 - pad < 0 ? 0 : y0 - pad;
    y1 += pad;
    yTicks = linearTicks(y0, y1);
  }
  const allInts = xs.every((x) => Number.isInteger(x));
  const xTicks = allInts && x1 - x0 <= 20 ? Array.from({ length: x1 - x0 + 1 }, (_, i) => x0 + i) : linearTicks(x0, x1);
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = logY
    ? (y: number) => plotTop + plotH - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * plotH
    : (y: number) => plotTop + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const r2 = (v: number) => Math.round(v * 100) / 100;

  // Grid and axes.
  svg += `<g font-family="sans-serif" font-size="11" fill="#333333">`;
  for (const t of yTicks) {
    const y = r2(py(t));
    svg += `<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#e0e0e0" stroke-width="1"/>`;
    svg += `<text x="${m.left - 6}" y="${y + 4}" text-anchor="end">${escapeXml(formatNumber(t))}</text>`;
  }
  for (const t of xTicks) {
    const x = r2(px(t));
    svg += `<line x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotTop + plotH}" stroke="#f0f0f0" stroke-width="1"/>`;
    svg += `<text x="${x}" y="${plotTop + plotH + 16}" text-anchor="middle">${escapeXml(formatNumber(t))}</text>`;
  }
  svg += `<line x1="${m.left}" y1="${plotTop + plotH}" x2="${m.left + plotW}" y2="${plotTop + plotH}" stroke="#333333" stroke-width="1"/>`;
  svg += `<line x1="${m.left}" y1="${plotTop}" x2="${m.left}" y2="${plotTop + plotH}" stroke="#333333" stroke-width="1"/>`;
  svg += `<text x="${m.left + plotW / 2}" y="${H - 12}" text-anchor="middle" font-size="13">${escapeXml(xLabel)}</text>`;
  const yl = plotTop + plotH / 2;
  svg += `<text x="16" y="${yl}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${yl})">${escapeXml(yLabel + (logY ? ' (log scale)' : ''))}</text>`;
  svg += `</g>`;

  // Series: a polyline and a marker with a tooltip per point.
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const pts = s.points.map(([x, y]) => `${r2(px(x))},${r2(py(y))}`).join(' ');
    svg += `<g>`;
    if (s.points.length > 1) {
      svg += `<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`;
    }
    for (const [x, y] of s.points) {
      svg += `<circle cx="${r2(px(x))}" cy="${r2(py(y))}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${formatNumber(x)}, ${formatNumber(y)}`)}</title></circle>`;
    }
    svg += `</g>`;
  });

  // Legend above the plot.
  svg += `<g font-family="sans-serif" font-size="12" fill="#333333">`;
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const y = m.top + 8 + 18 * i;
    svg += `<line x1="${m.left}" y1="${y}" x2="${m.left + 24}" y2="${y}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`;
    svg += `<text x="${m.left + 30}" y="${y + 4}">${escapeXml(s.name)}</text>`;
  });
  svg += `</g></svg>`;
  return svg;
}

/**
 * An HTML table; cells are escaped text. `numeric` columns are right-aligned.
 *
 * @example
 * ```ts
 * // runs
 * import { htmlTable } from 'kotoba';
 * console.log(htmlTable(['order', 'perplexity'], [[1, 962.3], [2, 341.1]]));
 * ```
 */
export function htmlTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[], numeric?: readonly boolean[]): string {
  const align = (i: number) => (numeric ? numeric[i] : undefined) ?? false;
  let html = '<table><thead><tr>';
  headers.forEach((h, i) => (html += `<th${align(i) ? ' class="num"' : ''}>${escapeXml(h)}</th>`));
  html += '</tr></thead><tbody>';
  for (const row of rows) {
    html += '<tr>';
    row.forEach((c, i) => {
      const isNum = typeof c === 'number';
      html += `<td${isNum || align(i) ? ' class="num"' : ''}>${escapeXml(isNum ? formatCell(c) : c)}</td>`;
    });
    html += '</tr>';
  }
  return html + '</tbody></table>';
}

function formatCell(x: number): string {
  if (!Number.isFinite(x)) return x === Infinity ? '∞' : String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return String(Number(x.toPrecision(5)));
}

/**
 * A complete HTML document: inline CSS only, no scripts, no external resources. `body` is HTML
 * (escape your own text with {@link escapeXml}).
 *
 * @example
 * ```ts
 * // runs
 * import { htmlPage, lineChart } from 'kotoba';
 * const chart = lineChart({ title: 'Loss', xLabel: 'epoch', yLabel: 'nats', series: [{ name: 'train', points: [[1, 5.1], [2, 4.7]] }] });
 * const html = htmlPage('Training', `<h1>Training</h1>${chart}`);
 * ```
 */
export function htmlPage(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; }
th { background: #f5f5f5; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.charts svg { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f5f5f5; padding: 0 0.25em; }
.note { color: #555; font-size: 0.92em; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}
