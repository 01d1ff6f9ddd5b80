// Axis domains and ticks, shared by every chart view. An ES module of its own so that
// tests/widgets/scale_test.mjs can run it under node; _base.py prepends it to each view.
//
// Robust to the inputs a training log produces: constant series at any magnitude (1e-30 to
// 3e38), NaN and +-inf (left out of the domain; views mark them), and empty data. Tick
// loops count integer multiples of the step and are capped, so they always end.

const WB_MAX_TICKS = 50;

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

/** A domain with a usable span: a constant (or a span lost in rounding, e.g. 1e20 +- 0.5)
 * becomes +-10% of its magnitude (+-0.5 around 0). */
export function wbDomain(lo, hi) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi < lo) [lo, hi] = [hi, lo];
  const magnitude = Math.max(Math.abs(lo), Math.abs(hi));
  if (hi - lo > magnitude * 1e-9 && hi - lo > 0) return [lo, hi];
  const mid = lo / 2 + hi / 2;
  const pad = mid === 0 ? 0.5 : Math.abs(mid) * 0.1;
  return [mid - pad, mid + pad];
}

/** About `n` round tick values within [lo, hi]; `cover` extends them to enclose it (axes).
 * Never more than WB_MAX_TICKS; [] when lo or hi is not finite. */
export function wbTicks(lo, hi, n = 5, cover = false) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  [lo, hi] = wbDomain(lo, hi);
  const raw = (hi / n) - (lo / n); // divided first: hi - lo may overflow near 1.8e308
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const kFirst = cover ? Math.floor(lo / step + 1e-9) : Math.ceil(lo / step - 1e-9);
  const kLast = cover ? Math.ceil(hi / step - 1e-9) : Math.floor(hi / step + 1e-9);
  const count = kLast - kFirst + 1;
  if (!Number.isFinite(count) || count < 1 || count > WB_MAX_TICKS) {
    return wbEvenTicks(lo, hi, n);
  }
  const ticks = [];
  for (let k = kFirst; k <= kLast; k++) {
    const t = k * step;
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  }
  return ticks;
}

/** n + 1 evenly spaced values from lo to hi: the fallback when round steps do not fit. */
function wbEvenTicks(lo, hi, n) {
  const ticks = [];
  for (let i = 0; i <= n; i++) ticks.push(lo + (i / n) * (hi - lo));
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
