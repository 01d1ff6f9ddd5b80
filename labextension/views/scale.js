// Source of workbench/widgets/_scale.js (bundled by esbuild: `npm run build:views`): axis
// domains, ticks and colour maps for every chart view, from d3-array (`nice` and `ticks`, the
// functions behind d3-scale's linear scale) and d3-scale-chromatic, instead of hand-written
// tick loops and colour tables.
//
// What d3 does not decide stays here: a degenerate domain (a constant series at any
// magnitude, or a span lost in rounding like 1e20 +- 0.5) becomes +-10% of its magnitude;
// NaN and +-inf are left out of the domain and counted for a note; no axis has more than
// WB_MAX_TICKS ticks.
import { nice as d3Nice, ticks as d3Ticks } from "d3-array";
import { rgb } from "d3-color";
import { interpolateRgb, piecewise } from "d3-interpolate";
import { interpolateBlues, interpolateViridis, schemeRdBu } from "d3-scale-chromatic";

export const WB_MAX_TICKS = 50;

/** [lo, hi] of the finite values, widened when degenerate; [0, 1] when none is finite. */
export function wbRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (lo === Infinity) return [0, 1];
  return wbDomain(lo, hi);
}

/** A domain with a usable span: a constant (or a span lost in rounding) becomes +-10% of its
 * magnitude (+-0.5 around 0). */
export function wbDomain(lo, hi) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi < lo) [lo, hi] = [hi, lo];
  const magnitude = Math.max(Math.abs(lo), Math.abs(hi));
  if (hi - lo > magnitude * 1e-9 && hi - lo > 0) return [lo, hi];
  const mid = lo / 2 + hi / 2;
  const pad = mid === 0 ? 0.5 : Math.abs(mid) * 0.1;
  return [mid - pad, mid + pad];
}

/** About `n` round tick values within [lo, hi] (d3's ticks); `cover` first extends the
 * domain to round values enclosing it (d3's nice), for axes. [] when lo or hi is not finite;
 * n + 1 even values when d3 finds no round step (a span that overflows a double). */
export function wbTicks(lo, hi, n = 5, cover = false) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  [lo, hi] = wbDomain(lo, hi);
  const [first, last] = cover ? d3Nice(lo, hi, n) : [lo, hi];
  const ticks = d3Ticks(first, last, n);
  if (ticks.length < 2 || ticks.length > WB_MAX_TICKS || !ticks.every(Number.isFinite)) {
    return Array.from({ length: n + 1 }, (_, i) => lo + (i / n) * (hi - lo));
  }
  return ticks;
}

/** Counts of NaN, +inf and -inf, and a short note for a chart ("" when all finite). */
export function wbNonFinite(values) {
  const counts = { nan: 0, posInf: 0, negInf: 0 };
  for (const v of values) {
    if (Number.isNaN(v)) counts.nan++;
    else if (v === Infinity) counts.posInf++;
    else if (v === -Infinity) counts.negInf++;
  }
  const parts = [];
  if (counts.nan) parts.push(`${counts.nan} NaN`);
  if (counts.posInf) parts.push(`${counts.posInf} +inf`);
  if (counts.negInf) parts.push(`${counts.negInf} -inf`);
  counts.note = parts.length ? `not plotted: ${parts.join(", ")}` : "";
  return counts;
}

/** A number for a label: 3 significant digits, exponent form when very large or small. */
export function wbFmt(v) {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+inf";
  if (v === -Infinity) return "-inf";
  if (typeof v !== "number") return "n/a";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

const WB_COLOR_MAPS = {
  viridis: interpolateViridis,
  blues: interpolateBlues,
  // ColorBrewer RdBu reversed (blue for negative, red for positive), through its 11 colours
  // exactly: d3's interpolateRdBu is a smoothing spline whose middle is not the neutral one.
  bluered: piecewise(interpolateRgb, [...schemeRdBu[11]].reverse()),
};

/** The colour at t in [0, 1] (clamped) of colour map `name` (viridis, blues or bluered), as
 * "rgb(r, g, b)" (wbTextOn reads it back). */
export function wbColorMap(name, t) {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  return rgb(WB_COLOR_MAPS[name](clamped)).formatRgb();
}
