/** Human-readable numbers shared by the terminal table and the chart labels. */

/** A link rate in bit/s as "20 Mbit/s", "1.5 Gbit/s", "750 kbit/s" (SI prefixes, 3 significant digits). */
export function formatRateBps(rateBps: number): string {
  const units: [number, string][] = [
    [1e9, 'Gbit/s'],
    [1e6, 'Mbit/s'],
    [1e3, 'kbit/s'],
  ];
  for (const [scale, unit] of units) {
    if (Math.abs(rateBps) >= scale) return `${trimNumber(rateBps / scale)} ${unit}`;
  }
  return `${trimNumber(rateBps)} bit/s`;
}

/** Seconds with a precision that suits their size: "0.052", "3.41", "27.9", "inf" for Infinity, "-" for null. */
export function formatSeconds(s: number | null): string {
  if (s === null || Number.isNaN(s)) return '-';
  if (!Number.isFinite(s)) return 'inf';
  if (Math.abs(s) < 1) return s.toFixed(3);
  if (Math.abs(s) < 100) return s.toFixed(2);
  return s.toFixed(1);
}

/** A fraction as a percentage with one decimal: 0.004 -> "0.4%". */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '-';
  return `${(fraction * 100).toFixed(1)}%`;
}

/** A number with 3 significant digits and no trailing zeros: 20 -> "20", 1.5 -> "1.5", 0.25 -> "0.25". */
function trimNumber(n: number): string {
  return String(Number(n.toPrecision(3)));
}
