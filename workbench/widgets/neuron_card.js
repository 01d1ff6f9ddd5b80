// Neuron card: firing frequency and the top activating contexts, the firing token marked.
// Every label is set with textContent, never parsed as markup: tokens are untrusted text.

function drawCard(model, root) {
  root.replaceChildren();
  wbHeader(root, model);
  for (const line of model.get("facts")) root.appendChild(wbEl("div", "wb-detail", line));
  const list = wbEl("div", "wb-contexts");
  for (const ctx of model.get("contexts")) {
    const row = wbEl("div", "wb-token-row");
    row.appendChild(wbEl("span", "wb-context-value", wbFmt(ctx.value)));
    ctx.tokens.forEach((token, i) => {
      const span = wbEl("span", "wb-token", wbShowToken(token));
      if (i === ctx.at) {
        span.classList.add("wb-selected");
        span.style.background = "#E69F00";
      }
      row.appendChild(span);
    });
    row.setAttribute("title", ctx.where);
    list.appendChild(row);
  }
  root.appendChild(list);
  wbNote(root, model.get("note"));
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-neuron-card");
  el.appendChild(root);
  const draw = () => drawCard(model, root);
  draw();
  return wbListen(model, ["facts", "contexts", "title", "note"], draw);
}

export default { render };
