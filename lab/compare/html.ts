/**
 * report.html: the comparison as one self-contained page to open in a browser or attach to a
 * pull request. The tables are HTML, the charts PNGs embedded as data: URIs; no script, no
 * stylesheet, font or image is fetched from anywhere (everything is inline), so the file works
 * alone, offline, wherever it is copied.
 */
import { formatSeconds } from '../results/format.js';
import { BETTER_COLOR, WORSE_COLOR, runColor, type CompareChart } from './charts.js';
import { shortCommit, type Comparison, type ScenarioComparison } from './model.js';
import { FIGURE_COLUMNS, METHOD_NOTE, formatDelta, formatFailed, formatFigure } from './text.js';

/** Background of table header rows (a colour the charts never use, so a screenshot test can find the tables). */
export const TABLE_HEADER_BG = '#dbe4f0';

export interface HtmlOptions {
  /** When the page was made (ISO 8601). */
  generatedAt: string;
  /** The command line that made it, as the user would type it. */
  command: string;
  /** Problems that did not stop the report (no font for charts, ...). */
  warnings?: string[];
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

const STYLE = `
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; color: #222; margin: 24px; max-width: 1500px; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 2px solid #ccc; padding-bottom: 4px; }
h2 small { font-weight: normal; color: #555; font-size: 15px; }
p.meta, p.method { color: #444; font-size: 14px; margin: 4px 0; }
p.method { white-space: pre-line; }
code { background: #f2f2f2; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0 12px; }
th, td { border: 1px solid #c9c9c9; padding: 4px 9px; }
td { white-space: nowrap; }
th { background: ${TABLE_HEADER_BG}; text-align: center; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.strategy { font-weight: bold; vertical-align: top; }
tr.ref td { background: #f7f7f7; }
td.better { color: ${BETTER_COLOR}; font-weight: bold; }
td.worse { color: ${WORSE_COLOR}; font-weight: bold; }
td.muted { color: #777; }
span.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; border: 1px solid #555; }
ul.notes { color: #8a5a00; font-size: 14px; margin: 4px 0; }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 13px; margin-top: 4px; }
`;

function pngDataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

function runsTable(c: Comparison): string {
  const rows = c.runs.map(
    (r, i) =>
      `<tr${i === 0 ? ' class="ref"' : ''}><td><span class="swatch" style="background:${runColor(c, r.name)}"></span><b>${escapeHtml(r.name)}</b>${i === 0 ? ' (reference)' : ''}</td>` +
      `<td><code>${escapeHtml(r.dir)}</code></td><td>${escapeHtml(r.scenario)}</td><td>${escapeHtml(r.backend)}</td>` +
      `<td><code>${escapeHtml(shortCommit(r.gitCommit))}</code></td><td>${escapeHtml(r.startedAt ?? '-')}</td></tr>`,
  );
  return `<table class="runs"><thead><tr><th>run</th><th>folder</th><th>scenario</th><th>backend</th><th>commit</th><th>started</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

/** Green for lower than the reference, red for higher; plain when the shown percentage rounds to 0.0. */
function deltaClass(pct: number | null, abs: number | null): string {
  const v = pct ?? abs;
  if (v === null || Math.abs(v) < 0.05) return 'num';
  return v < 0 ? 'num better' : 'num worse';
}

function scenarioTable(c: Comparison, s: ScenarioComparison): string {
  const head =
    '<tr><th>strategy</th><th>run</th><th>repeats</th>' +
    FIGURE_COLUMNS.map((col) => `<th>${escapeHtml(col.header)}</th><th>vs ${escapeHtml(s.reference)}</th>`).join('') +
    '<th>failed</th></tr>';
  const body: string[] = [];
  for (const row of s.rows) {
    row.cells.forEach((cell, i) => {
      const cells: string[] = [];
      if (i === 0) cells.push(`<td class="strategy" rowspan="${row.cells.length}">${escapeHtml(row.strategy)}</td>`);
      cells.push(`<td><span class="swatch" style="background:${runColor(c, cell.run)}"></span>${escapeHtml(cell.run)}</td>`);
      const f = cell.figures;
      if (f === null) {
        cells.push(`<td class="num muted">0</td><td class="muted" colspan="${FIGURE_COLUMNS.length * 2 + 1}">not run</td>`);
      } else {
        cells.push(`<td class="num">${f.repeats}</td>`);
        for (const col of FIGURE_COLUMNS) {
          cells.push(`<td class="num">${escapeHtml(formatFigure(f[col.key], col.kind))}</td>`);
          if (i === 0) cells.push('<td class="num muted">reference</td>');
          else if (cell.delta === null) cells.push('<td class="num muted">no reference</td>');
          else {
            const d = cell.delta[col.key];
            cells.push(`<td class="${deltaClass(d.pct, d.abs)}">${escapeHtml(formatDelta(d, col.kind))}</td>`);
          }
        }
        cells.push(`<td class="num${f.failedReceivers > 0 ? ' worse' : ''}">${escapeHtml(formatFailed(cell))}</td>`);
      }
      body.push(`<tr${i === 0 ? ' class="ref"' : ''}>${cells.join('')}</tr>`);
    });
  }
  return `<table class="cmp"><thead>${head}</thead><tbody>\n${body.join('\n')}\n</tbody></table>`;
}

function figure(chart: CompareChart): string {
  return `<figure><img src="${pngDataUri(chart.png)}" alt="${escapeHtml(chart.caption)}"><figcaption>${escapeHtml(chart.caption)}</figcaption></figure>`;
}

/** The whole page. */
export function comparisonHtml(c: Comparison, charts: readonly CompareChart[], opts: HtmlOptions): string {
  const scenarioNames = c.scenarios.map((s) => s.scenario).join(', ');
  const title = `fanout compare: ${scenarioNames} (${c.runs.map((r) => r.name).join(' vs ')})`;
  const sections = c.scenarios.map((s) => {
    const notes = s.notes.length > 0 ? `<ul class="notes">${s.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '';
    const lowerBound = s.rows.map((r) => r.cells[0]!.figures?.lowerBoundS).find((b) => b !== undefined);
    const boundText = lowerBound !== undefined ? `, lower bound ${escapeHtml(formatSeconds(lowerBound))} s` : '';
    const own = charts.filter((ch) => ch.scenario === s.scenario);
    return (
      `<section>\n<h2>${escapeHtml(s.scenario)} <small>${s.receivers} receivers${boundText}; reference ${escapeHtml(s.reference)}</small></h2>\n` +
      `${notes}\n${scenarioTable(c, s)}\n${own.map(figure).join('\n')}\n</section>`
    );
  });
  const runWarnings = c.runs.flatMap((r) => r.warnings.map((w) => `${r.name}: ${w}`));
  const allWarnings = [...(opts.warnings ?? []), ...runWarnings];
  const warnings =
    allWarnings.length > 0 ? `<h2>Warnings</h2><ul class="notes">${allWarnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">Made ${escapeHtml(opts.generatedAt)} by <code>${escapeHtml(opts.command)}</code>. The reference is the first folder given, <b>${escapeHtml(c.reference)}</b>.</p>
${runsTable(c)}
<p class="method">${escapeHtml(METHOD_NOTE)}</p>
${sections.join('\n')}
${warnings}
</body>
</html>
`;
}
