// Line chart of one or more series over training steps; hover reads values at the nearest
// step, click selects that step.

function drawLines(model, root) {
  root.replaceChildren();
  wbHeader(root, model);
  const xs = wbFloats(model, "x");
  const ys = wbFloats(model, "y");
  const [nSeries, nSteps] = model.get("shape");
  const names = model.get("series_names");
  const [lo, hi] = wbRange(ys);
  const { svg, y, m, size } = wbPlotFrame(lo, hi, model.get("y_label"));
  const [xLo, xHi] = wbRange(xs);
  const x = (v) => m.l + (size.w - m.l - m.r) * ((v - xLo) / (xHi - xLo || 1));
  for (const t of wbTicks(xLo, xHi)) {
    svg.appendChild(wbSvg("text", { x: x(t), y: size.h - m.b + 14, "text-anchor": "middle", class: "wb-axis-text" }, wbFmt(t)));
  }
  svg.appendChild(wbSvg("line", { x1: m.l, x2: size.w - m.r, y1: size.h - m.b, y2: size.h - m.b, class: "wb-axis-line" }));
  svg.appendChild(wbSvg("text", { x: (m.l + size.w - m.r) / 2, y: size.h - 6, "text-anchor": "middle", class: "wb-axis-text" }, model.get("x_label")));
  const legend = wbEl("div", "wb-legend");
  for (let s = 0; s < nSeries; s++) {
    const colour = WB_PALETTE[s % WB_PALETTE.length];
    for (const points of finiteRuns(xs, ys.subarray(s * nSteps, (s + 1) * nSteps), x, y)) {
      svg.appendChild(wbSvg("polyline", { points: points.join(" "), class: "wb-line", stroke: colour }));
    }
    const key = wbEl("span", "wb-legend-key", names[s]);
    key.style.borderColor = colour;
    legend.appendChild(key);
  }
  const detail = wbEl("div", "wb-detail", "\u00a0");
  const rule = wbSvg("line", { x1: 0, x2: 0, y1: m.t, y2: size.h - m.b, class: "wb-rule", visibility: "hidden" });
  svg.appendChild(rule);
  const nearest = (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * size.w;
    let best = 0;
    for (let i = 1; i < nSteps; i++) if (Math.abs(x(xs[i]) - px) < Math.abs(x(xs[best]) - px)) best = i;
    return best;
  };
  svg.addEventListener("mousemove", (event) => {
    const i = nearest(event);
    rule.setAttribute("x1", x(xs[i]));
    rule.setAttribute("x2", x(xs[i]));
    rule.setAttribute("visibility", "visible");
    const readings = names.map((name, s) => `${name}: ${wbFmt(ys[s * nSteps + i])}`);
    detail.textContent = `${model.get("x_label")} ${wbFmt(xs[i])} \u2014 ${readings.join(", ")}`;
  });
  svg.addEventListener("click", (event) => wbSelect(model, { step: nearest(event) }));
  root.append(svg, legend, detail);
  wbNote(root, wbNonFinite(ys).note);
}

/** Polyline point lists, broken at NaN/inf values (a gap, never a line through 0). */
function finiteRuns(xs, values, x, y) {
  const runs = [[]];
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i]) && Number.isFinite(xs[i])) {
      runs[runs.length - 1].push(`${x(xs[i]).toFixed(1)},${y(values[i]).toFixed(1)}`);
    } else if (runs[runs.length - 1].length) {
      runs.push([]);
    }
  }
  return runs.filter((run) => run.length);
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-lines");
  el.appendChild(root);
  const draw = () => drawLines(model, root);
  draw();
  return wbListen(model, ["x", "y", "shape", "series_names", "title", "x_label", "y_label"], draw);
}

export default { render };
