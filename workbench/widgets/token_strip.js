// Token strip: tokens in reading order, coloured by one value each; hover shows details and a
// click selects a position.

function drawTokens(model, root) {
  root.replaceChildren();
  wbHeader(root, model);
  const tokens = model.get("tokens");
  const values = wbFloats(model, "values");
  const hasValues = values.length === tokens.length && tokens.length > 0;
  const [lo, hi] = hasValues ? wbRange(values) : [0, 1];
  const scale = model.get("color_scale");
  const label = model.get("value_label");
  const selected = model.get("selected");
  const row = wbEl("div", "wb-token-row");
  const detail = wbEl("div", "wb-detail", "\u00a0");
  tokens.forEach((token, i) => {
    const span = wbEl("span", "wb-token", wbShowToken(token));
    span.dataset.pos = String(i);
    const text = hasValues
      ? `pos ${i} "${wbShowToken(token)}" ${label || "value"}: ${wbFmt(values[i])}`
      : `pos ${i} "${wbShowToken(token)}"`;
    span.setAttribute("title", text);
    if (hasValues) {
      const colour = wbColor(values[i], lo, hi, scale);
      span.style.background = colour;
      span.style.color = wbTextOn(colour);
    }
    if (selected.pos === i) span.classList.add("wb-selected");
    span.addEventListener("mouseenter", () => (detail.textContent = text));
    span.addEventListener("click", () => wbSelect(model, { pos: i }));
    row.appendChild(span);
  });
  root.append(row);
  if (hasValues) root.append(wbColorbar(lo, hi, scale, label));
  root.append(detail);
  if (hasValues) wbNote(root, wbNonFinite(values).note && `${wbNonFinite(values).note} (grey tokens)`);
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-tokens");
  el.appendChild(root);
  const draw = () => drawTokens(model, root);
  draw();
  return wbListen(model, ["tokens", "values", "selected", "title", "value_label"], draw);
}

export default { render };
