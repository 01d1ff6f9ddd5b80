// Bars of a per-layer mean with its distribution over tokens: a box from the 25th to the 75th
// percentile, whiskers from the 5th to the 95th, a tick at the median. Click a bar to select.

function drawDistribution(model, root) {
  root.replaceChildren();
  wbHeader(root, model);
  const means = wbFloats(model, "values");
  const q = wbFloats(model, "quantiles"); // [item, 5]: 5, 25, 50, 75, 95 %
  const labels = model.get("labels");
  const axis = model.get("axis");
  const selected = model.get("selected");
  const [lo, hi] = wbRange([0, ...means, ...q]);
  const { svg, y, m, size } = wbPlotFrame(lo, hi, model.get("value_label"));
  const band = (size.w - m.l - m.r) / Math.max(1, means.length);
  const detail = wbEl("div", "wb-detail", "\u00a0");
  means.forEach((mean, i) => {
    const x = m.l + i * band + band * 0.15;
    const w = band * 0.7;
    const cls = selected[axis] === i ? "wb-bar wb-selected" : "wb-bar";
    const top = Number.isFinite(mean) ? Math.min(y(mean), y(0)) : y(0);
    const bar = wbSvg("rect", { x, y: top, width: w, height: Number.isFinite(mean) ? Math.max(Math.abs(y(mean) - y(0)), 0.5) : 0, class: cls, fill: WB_PALETTE[5] });
    const [q05, q25, q50, q75, q95] = [0, 1, 2, 3, 4].map((j) => q[i * 5 + j]);
    const text = `${axis} ${labels[i]}: mean ${wbFmt(mean)}, median ${wbFmt(q50)}, 25-75% ${wbFmt(q25)}-${wbFmt(q75)}, 5-95% ${wbFmt(q05)}-${wbFmt(q95)}`;
    bar.appendChild(wbSvg("title", {}, text));
    bar.dataset.index = String(i);
    bar.addEventListener("mouseenter", () => (detail.textContent = text));
    bar.addEventListener("click", () => wbSelect(model, { [axis]: i }));
    svg.appendChild(bar);
    const cx = x + w / 2;
    svg.appendChild(wbSvg("line", { x1: cx, x2: cx, y1: y(q05), y2: y(q95), stroke: "#222" }));
    svg.appendChild(wbSvg("rect", { x: cx - w / 4, y: y(q75), width: w / 2, height: Math.max(y(q25) - y(q75), 0.5), fill: "none", stroke: "#222" }));
    svg.appendChild(wbSvg("line", { x1: cx - w / 4, x2: cx + w / 4, y1: y(q50), y2: y(q50), stroke: "#222", "stroke-width": 2 }));
    svg.appendChild(wbSvg("text", { x: cx, y: size.h - m.b + 14, "text-anchor": "middle", class: "wb-axis-text" }, labels[i]));
  });
  svg.appendChild(wbSvg("line", { x1: m.l, x2: size.w - m.r, y1: y(0), y2: y(0), class: "wb-axis-line" }));
  svg.appendChild(wbSvg("text", { x: (m.l + size.w - m.r) / 2, y: size.h - 6, "text-anchor": "middle", class: "wb-axis-text" }, axis));
  root.append(svg, detail);
  wbNote(root, wbNonFinite(means).note);
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-bars");
  el.appendChild(root);
  const draw = () => drawDistribution(model, root);
  draw();
  return wbListen(model, ["values", "quantiles", "labels", "selected", "title", "value_label", "axis"], draw);
}

export default { render };
