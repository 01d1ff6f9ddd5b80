// Renders one bundled widget view (argv[2]: the ES module text written to a file) into a
// minimal fake DOM, with traits from JSON (argv[3]; arrays under "floats" become float32
// bytes), and prints a summary: axis labels, notes, polylines, non-finite markers.
import { pathToFileURL } from "node:url";

class Node {
  constructor(tag) {
    Object.assign(this, { tag, children: [], attrs: {}, style: {}, dataset: {}, textContent: "" });
    this.classList = { add: () => {}, toggle: () => {} };
  }
  set className(v) { this.attrs.class = v; }
  get className() { return this.attrs.class || ""; }
  setAttribute(k, v) { this.attrs[k] = v; }
  appendChild(c) { this.children.push(c); return c; }
  append(...cs) { this.children.push(...cs); }
  replaceChildren() { this.children = []; }
  addEventListener() {}
  getBoundingClientRect() { return { left: 0, width: 1 }; }
}
globalThis.document = { createElement: (t) => new Node(t), createElementNS: (_, t) => new Node(t) };

const traits = JSON.parse(process.argv[3]);
const decode = (v) => (v === "NaN" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);
for (const [name, values] of Object.entries(traits.floats || {})) {
  traits[name] = new DataView(Float32Array.from(values.map(decode)).buffer);
}
const model = { get: (k) => traits[k], on() {}, off() {}, set() {}, save_changes() {} };
const view = (await import(pathToFileURL(process.argv[2]).href)).default;
const el = new Node("div");
view.render({ model, el });

const all = [];
const walk = (n) => { all.push(n); n.children.forEach(walk); };
walk(el);
const cls = (c) => all.filter((n) => (n.attrs.class || "").split(" ").includes(c));
console.log(JSON.stringify({
  axisText: cls("wb-axis-text").map((n) => n.textContent),
  notes: cls("wb-note").map((n) => n.textContent),
  nonFinite: cls("wb-nonfinite").map((n) => n.textContent),
  polylines: all.filter((n) => n.tag === "polyline").map((n) => n.attrs.points),
  nodes: all.length,
}));
