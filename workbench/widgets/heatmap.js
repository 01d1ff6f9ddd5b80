// Heatmap view: rows x columns of coloured cells (e.g. layer x head); click selects a cell.

function drawHeatmap(model, root) {
  root.replaceChildren();
  wbHeader(root, model);
  const [rows, cols] = model.get("shape");
  const values = wbFloats(model, "values");
  const rowLabels = model.get("row_labels");
  const colLabels = model.get("col_labels");
  const rowAxis = model.get("row_axis");
  const colAxis = model.get("col_axis");
  const scale = model.get("color_scale");
  const selected = model.get("selected");
  const [lo, hi] = wbRange(values);

  const grid = wbEl("div", "wb-grid");
  grid.style.gridTemplateColumns = `auto repeat(${cols}, minmax(1.8em, 2.6em))`;
  grid.appendChild(wbEl("div", "wb-axis-corner", `${rowAxis} \u2193 ${colAxis} \u2192`));
  for (let c = 0; c < cols; c++) grid.appendChild(wbEl("div", "wb-col-label", colLabels[c]));
  const detail = wbEl("div", "wb-detail", "\u00a0");
  for (let r = 0; r < rows; r++) {
    grid.appendChild(wbEl("div", "wb-row-label", rowLabels[r]));
    for (let c = 0; c < cols; c++) {
      const value = values[r * cols + c];
      const cell = wbEl("div", "wb-cell");
      cell.dataset.row = String(r);
      cell.dataset.col = String(c);
      cell.style.background = wbColor(value, lo, hi, scale);
      const text = `${rowAxis} ${rowLabels[r]}, ${colAxis} ${colLabels[c]}: ${wbFmt(value)}`;
      cell.setAttribute("title", text);
      if (selected[rowAxis] === r && selected[colAxis] === c) cell.classList.add("wb-selected");
      cell.addEventListener("mouseenter", () => (detail.textContent = text));
      cell.addEventListener("click", () => wbSelect(model, { [rowAxis]: r, [colAxis]: c }));
      grid.appendChild(cell);
    }
  }
  root.append(grid, wbColorbar(lo, hi, scale, model.get("value_label")), detail);
  const note = wbNonFinite(values).note;
  wbNote(root, note && `${note} (grey cells)`);
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-heatmap");
  el.appendChild(root);
  const draw = () => drawHeatmap(model, root);
  draw();
  const names = ["values", "shape", "row_labels", "col_labels", "selected", "title", "value_label"];
  return wbListen(model, names, draw);
}

export default { render };
