// workbench widget helpers, prepended to every view module (see _base.py); the axis
// helpers wbRange, wbDomain, wbTicks, wbNonFinite, wbFmt and the colour maps (wbColorMap)
// come from _scale.js, an esbuild bundle of d3 (source: labextension/views/scale.js).
// Text from Python (tokens, labels, titles) is only ever placed with textContent or
// setAttribute, never parsed as HTML, so a token like <img onerror=...> stays text.

const WB_SVG_NS = "http://www.w3.org/2000/svg";
// Okabe & Ito (2008) colour-blind-safe palette.
const WB_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

/** Float32 values of a bytes trait (float32 little-endian), whatever buffer type arrives. */
function wbFloats(model, name) {
  const raw = model.get(name);
  if (!raw) return new Float32Array(0);
  let view;
  if (raw instanceof DataView) view = raw;
  else if (raw instanceof ArrayBuffer) view = new DataView(raw);
  else view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(Math.floor(view.byteLength / 4));
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function wbEl(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function wbSvg(tag, attrs, text) {
  const node = document.createElementNS(WB_SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Colour of a value: "attention" white-to-blue, "diverging" around 0, else viridis. */
function wbColor(value, lo, hi, scale) {
  if (!Number.isFinite(value)) return "rgb(204, 204, 204)";
  const mode = scale === "auto" || !scale ? (lo < 0 && hi > 0 ? "diverging" : "sequential") : scale;
  if (mode === "diverging") {
    const bound = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return wbColorMap("bluered", 0.5 + value / (2 * bound));
  }
  if (mode === "attention") return wbColorMap("blues", hi > 0 ? value / hi : 0);
  return wbColorMap("viridis", (value - lo) / (hi - lo || 1));
}

/** Black or white text, whichever reads better on an rgb(...) background. */
function wbTextOn(rgb) {
  const [r, g, b] = rgb.match(/\d+/g).map(Number);
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
}

/** Tokens with invisible characters made visible (the text itself is never HTML). */
function wbShowToken(token) {
  const text = String(token).replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
  return text === "" ? "\u2205" : text;
}

function wbSelect(model, patch) {
  model.set("selected", { ...model.get("selected"), ...patch });
  model.save_changes();
}

/** Re-run `fn` whenever one of the traits changes; returns the cleanup anywidget calls. */
function wbListen(model, names, fn) {
  for (const name of names) model.on(`change:${name}`, fn);
  return () => {
    for (const name of names) model.off(`change:${name}`, fn);
  };
}

function wbColorbar(lo, hi, scale, label) {
  const bar = wbEl("div", "wb-colorbar");
  const stops = [0, 0.25, 0.5, 0.75, 1].map((f) => wbColor(lo + f * (hi - lo), lo, hi, scale));
  const ramp = wbEl("span", "wb-ramp");
  ramp.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
  bar.append(wbEl("span", "wb-tick", wbFmt(lo)), ramp, wbEl("span", "wb-tick", wbFmt(hi)));
  if (label) bar.append(wbEl("span", "wb-label", label));
  return bar;
}

/** A visible note under a chart (e.g. how many NaN/inf values were left out). */
function wbNote(root, text) {
  if (text) root.appendChild(wbEl("div", "wb-note", text));
}

function wbHeader(root, model) {
  const title = model.get("title");
  if (title) root.appendChild(wbEl("div", "wb-title", title));
}

/** An SVG plot area with a y axis (ticks, light grid, label); returns the y scale. */
function wbPlotFrame(yLo, yHi, yLabel, size = { w: 460, h: 240 }) {
  const m = { l: 56, r: 12, t: 10, b: 40 };
  const svg = wbSvg("svg", { width: size.w, height: size.h, class: "wb-plot", viewBox: `0 0 ${size.w} ${size.h}` });
  const ticks = wbTicks(yLo, yHi, 5, true);
  const lo = ticks.length ? Math.min(yLo, ticks[0]) : yLo;
  const hi = ticks.length ? Math.max(yHi, ticks[ticks.length - 1]) : yHi;
  const y = (v) => m.t + (size.h - m.t - m.b) * (1 - (v - lo) / (hi - lo || 1));
  for (const t of ticks) {
    svg.appendChild(wbSvg("line", { x1: m.l, x2: size.w - m.r, y1: y(t), y2: y(t), class: "wb-gridline" }));
    svg.appendChild(wbSvg("text", { x: m.l - 6, y: y(t) + 4, "text-anchor": "end", class: "wb-axis-text" }, wbFmt(t)));
  }
  svg.appendChild(wbSvg("line", { x1: m.l, x2: m.l, y1: m.t, y2: size.h - m.b, class: "wb-axis-line" }));
  const mid = (m.t + size.h - m.b) / 2;
  svg.appendChild(wbSvg("text", { x: 14, y: mid, transform: `rotate(-90 14 ${mid})`, "text-anchor": "middle", class: "wb-axis-text" }, yLabel));
  return { svg, y, m, size };
}
