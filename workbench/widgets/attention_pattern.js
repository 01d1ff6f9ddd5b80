// Attention pattern of one head: destination (query) rows x source (key) columns, plus a
// token row. Hovering a cell marks its destination and source tokens; hovering a token in the
// row colours the other tokens by how much that token attends to them.

function patternGrid(model, tokens, values, state) {
  const n = tokens.length;
  const grid = wbEl("div", "wb-grid wb-pattern-grid");
  grid.style.gridTemplateColumns = `auto repeat(${n}, minmax(1.1em, 1.6em))`;
  grid.appendChild(wbEl("div", "wb-axis-corner", "dest \u2193 src \u2192"));
  const srcLabels = tokens.map((t, k) => {
    const label = wbEl("div", "wb-col-label wb-vertical", wbShowToken(t));
    label.dataset.pos = String(k);
    grid.appendChild(label);
    return label;
  });
  const destLabels = [];
  for (let q = 0; q < n; q++) {
    const label = wbEl("div", "wb-row-label", wbShowToken(tokens[q]));
    label.dataset.pos = String(q);
    destLabels.push(label);
    grid.appendChild(label);
    for (let k = 0; k < n; k++) {
      const value = values[q * n + k];
      const cell = wbEl("div", "wb-cell wb-small");
      cell.dataset.row = String(q);
      cell.dataset.col = String(k);
      cell.style.background = wbColor(value, 0, state.hi, "attention");
      cell.addEventListener("mouseenter", () => state.focusCell(q, k, value));
      grid.appendChild(cell);
    }
  }
  grid.addEventListener("mouseleave", () => state.clear());
  return { grid, srcLabels, destLabels };
}

function tokenRow(tokens, values, state) {
  const row = wbEl("div", "wb-token-row");
  const spans = tokens.map((t, i) => {
    const span = wbEl("span", "wb-token", wbShowToken(t));
    span.dataset.pos = String(i);
    span.addEventListener("mouseenter", () => state.focusDest(i));
    row.appendChild(span);
    return span;
  });
  row.addEventListener("mouseleave", () => state.clear());
  return { row, spans };
}

function drawPattern(model, root) {
  root.replaceChildren();
  wbHeader(root, model);
  const tokens = model.get("tokens");
  const n = tokens.length;
  const values = wbFloats(model, "pattern");
  const detail = wbEl("div", "wb-detail", "\u00a0");
  const state = { hi: Math.max(1e-9, wbRange(values)[1]) };
  const parts = {};
  const mark = (nodes, index, cls) => nodes.forEach((node, i) => node.classList.toggle(cls, i === index));
  state.clear = () => {
    for (const list of [parts.srcLabels, parts.destLabels, parts.spans]) {
      list.forEach((node) => node.classList.remove("wb-src", "wb-dest"));
    }
    parts.spans.forEach((span) => {
      span.style.background = "";
      span.style.color = "";
    });
    detail.textContent = "\u00a0";
  };
  state.focusCell = (q, k, value) => {
    state.clear();
    mark(parts.destLabels, q, "wb-dest");
    mark(parts.srcLabels, k, "wb-src");
    mark(parts.spans, q, "wb-dest");
    parts.spans[k].classList.add("wb-src");
    detail.textContent = `dest ${q} "${wbShowToken(tokens[q])}" \u2192 src ${k} "${wbShowToken(tokens[k])}": ${wbFmt(value)}`;
  };
  state.focusDest = (q) => {
    state.clear();
    mark(parts.spans, q, "wb-dest");
    mark(parts.destLabels, q, "wb-dest");
    parts.spans.forEach((span, k) => {
      const colour = wbColor(values[q * n + k], 0, state.hi, "attention");
      span.style.background = colour;
      span.style.color = wbTextOn(colour);
    });
    detail.textContent = `attention from dest ${q} "${wbShowToken(tokens[q])}" to each source`;
  };
  Object.assign(parts, patternGrid(model, tokens, values, state));
  const strip = tokenRow(tokens, values, state);
  parts.spans = strip.spans;
  root.append(parts.grid, strip.row, wbColorbar(0, state.hi, "attention", "attention"), detail);
  const note = wbNonFinite(values).note;
  wbNote(root, note && `${note} (grey cells)`);
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-attention");
  el.appendChild(root);
  const draw = () => drawPattern(model, root);
  draw();
  return wbListen(model, ["pattern", "shape", "tokens", "title"], draw);
}

export default { render };
