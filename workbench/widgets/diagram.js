// Circuit diagram view: draws the scene laid out in Python (boxes, wires, labels) as SVG.
// Drag pans, the wheel zooms; a click on a box selects it (details below), a click on a
// group's box or frame opens or closes it. Labels go in with textContent only.

const WB_DIAGRAM_START_PX = 1100;

function wbDiagramItem(item) {
  if (item.t === "rect") {
    const attrs = { x: item.x, y: item.y, width: item.w, height: item.h, rx: item.r, fill: item.fill, stroke: "#333", "stroke-width": 0.9 };
    if (item.dash) attrs["stroke-dasharray"] = "4 3";
    if (item.fill === "none") attrs["pointer-events"] = "stroke";
    return wbSvg("rect", attrs);
  }
  if (item.t === "line") {
    const attrs = { x1: item.x1, y1: item.y1, x2: item.x2, y2: item.y2, stroke: item.color, "stroke-width": item.width };
    if (item.dash) attrs["stroke-dasharray"] = "4 3";
    return wbSvg("line", attrs);
  }
  if (item.t === "circle") {
    return wbSvg("circle", { cx: item.cx, cy: item.cy, r: item.r, fill: item.fill, stroke: "#333", "stroke-width": 0.9 });
  }
  const anchor = { x: item.x, y: item.y, "font-size": item.size, "text-anchor": item.anchor, fill: item.fill, "pointer-events": "none" };
  if (item.weight === "bold") anchor["font-weight"] = "bold";
  return wbSvg("text", anchor, item.s);
}

function wbDiagramDetails(panel, details) {
  panel.replaceChildren();
  if (!details || !details.id) {
    panel.appendChild(wbEl("div", "wb-note", "click a box: its hook, wires and costs; click a group to open or close it"));
    return;
  }
  const rows = [
    ["box", `${details.label} (${details.kind})`],
    ["id", details.id],
    ["hook", details.hook || "(none: an intermediate without a hook point)"],
    ["wires", details.shape.map(([name, size]) => `${name} ${size}`).join(" | ")],
  ];
  if (details.joined.length) rows.push(["joins (sums over)", details.joined.join(", ")]);
  if (details.reduced.length) rows.push(["runs along", details.reduced.join(", ")]);
  rows.push(["FLOPs", wbFmt(details.flops)], ["memory (bytes)", wbFmt(details.bytes)]);
  if (details.note) rows.push(["note", details.note]);
  for (const row of details.stats) rows.push(row);
  const table = wbEl("table", "wb-diagram-details");
  for (const [key, value] of rows) {
    const tr = wbEl("tr");
    tr.append(wbEl("th", null, key), wbEl("td", null, value));
    table.appendChild(tr);
  }
  panel.appendChild(table);
}

function wbDiagramToggle(model, id) {
  const open = new Set(model.get("expanded"));
  if (open.has(id)) open.delete(id);
  else open.add(id);
  model.set("expanded", [...open].sort());
  model.save_changes();
}

function drawDiagram(model, root, view) {
  root.replaceChildren();
  wbHeader(root, model);
  const scene = model.get("scene") || { width: 1, height: 1, items: [] };
  const tools = wbEl("div", "wb-diagram-tools");
  const svg = wbSvg("svg", { class: "wb-diagram", width: "100%", height: Math.min(560, scene.height + 10), "font-family": "Helvetica, Arial, sans-serif" });
  // start at about 1:1 on the left end (labels readable); "fit" shows everything
  if (!view.box) view.box = [0, 0, Math.min(scene.width, WB_DIAGRAM_START_PX), scene.height];
  const setBox = () => svg.setAttribute("viewBox", view.box.join(" "));
  setBox();
  const zoom = (factor) => {
    const [x, y, w, h] = view.box;
    view.box = [x + (w * (1 - factor)) / 2, y + (h * (1 - factor)) / 2, w * factor, h * factor];
    setBox();
  };
  const button = (text, fn) => {
    const b = wbEl("button", "wb-button", text);
    b.addEventListener("click", fn);
    return b;
  };
  tools.append(button("+", () => zoom(0.8)), button("\u2212", () => zoom(1.25)),
    button("fit", () => { view.box = [0, 0, scene.width, scene.height]; setBox(); }));
  const selected = (model.get("selected") || {}).node;
  for (const item of scene.items) {
    const node = wbDiagramItem(item);
    if (item.id) {
      node.setAttribute("data-node", item.id);
      if (item.id === selected) node.setAttribute("stroke", "#D55E00");
      node.style.cursor = "pointer";
      node.addEventListener("click", (event) => {
        if (event.stopPropagation) event.stopPropagation();
        if (view.dragged) return;
        wbSelect(model, { node: item.id });
        if (item.group) wbDiagramToggle(model, item.id);
      });
    }
    svg.appendChild(node);
  }
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoom(event.deltaY > 0 ? 1.1 : 0.9);
  });
  svg.addEventListener("pointerdown", (event) => {
    view.drag = { x: event.clientX, y: event.clientY, box: [...view.box] };
    view.dragged = false;
  });
  svg.addEventListener("pointermove", (event) => {
    if (!view.drag) return;
    const rect = svg.getBoundingClientRect();
    const scale = view.drag.box[2] / (rect.width || 1);
    const dx = (event.clientX - view.drag.x) * scale;
    const dy = (event.clientY - view.drag.y) * scale;
    if (Math.abs(dx) + Math.abs(dy) > 2) view.dragged = true;
    view.box = [view.drag.box[0] - dx, view.drag.box[1] - dy, view.box[2], view.box[3]];
    setBox();
  });
  const stop = () => { view.drag = null; };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointerleave", stop);
  const panel = wbEl("div", "wb-diagram-panel");
  wbDiagramDetails(panel, model.get("details"));
  root.append(tools, svg, panel);
}

function render({ model, el }) {
  const root = wbEl("div", "wb-widget wb-diagram-view");
  el.appendChild(root);
  const view = {};
  const redraw = () => drawDiagram(model, root, view);
  const rescale = () => { view.box = null; redraw(); };
  redraw();
  const stopScene = wbListen(model, ["scene"], rescale);
  const stopRest = wbListen(model, ["selected", "details", "title"], redraw);
  return () => { stopScene(); stopRest(); };
}

export default { render };
