// Bar chart of one value per item (e.g. per layer); click a bar to select it.

function drawBars(model, root) {
  root.replaceChildren();
  wbHeader(root, model);
  const values = wbFloats(model, "values");
  const labels = model.get("labels");
  const axis = model.get("axis");
  const selected = model.get("selected");
  const [lo, hi] = wbRange([0, ...values]);
  const { svg, y, m, size } = wbPlotFrame(lo, hi, model.get("value_label"));
  const band = (size.w - m.l - m.r) / Math.max(1, values.length);
  const detail = wbEl("div", "wb-detail", "\u00a0");
  values.forEach((value, i) => {
    const x = m.l + i * band + band * 0.15;
    const top = Number.isFinite(value) ? Math.min(y(value), y(0)) : y(0);
    const height = Number.isFinite(value) ? Math.abs(y(value) - y(0)) : 0;
    const cls = selected[axis] === i ? "wb-bar wb-selected" : "wb-bar";
    if (!Number.isFinite(value)) {
      // No bar (a stub at 0 would read as the value 0): the value itself, written in place.
      svg.appendChild(wbSvg("text", { x: x + band * 0.35, y: y(0) - 4, "text-anchor": "middle", class: "wb-nonfinite" }, wbFmt(value)));
    }
    const bar = wbSvg("rect", { x, y: top, width: band * 0.7, height: Number.isFinite(value) ? Math.max(height, 0.5) : 0, class: cls, fill: WB_PALETTE[0] });
    bar.dataset.index = String(i);
    const text = `${axis} ${labels[i]}: ${wbFmt(value)}`;
    bar.appendChild(wbSvg("title", {}, text));
    bar.addEventListener("mouseenter", () => (detail.textContent = text));
    bar.addEventListener("click", () => wbSelect(model, { [axis]: i }));
    svg.appendChild(bar);
    const labelY = size.h - m.b + 14;
    svg.appendChild(wbSvg("text", { x: x + band * 0.35, y: labelY, "text-anchor": "middle", class: "wb-axis-text" }, labels[i]));
  });
  svg.appendChild(wbSvg("line", { x1: m.l, x2: size.w - m.r, y1: y(0), y2: y(0), class: "wb-axis-line" }));
  svg.appendChild(wbSvg("text", { x: (m.l + size.w - m.r) / 2, y: size.h - 6, "text-anchor": "middle", class: "wb-axis-text" }, axis));
  root.append(svg, detail);
  wbNote(root, wbNonFinite(values).note);
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-bars");
  el.appendChild(root);
  const draw = () => drawBars(model, root);
  draw();
  return wbListen(model, ["values", "labels", "selected", "title", "value_label", "axis"], draw);
}

export default { render };
