// Renders the circuit diagram view (argv[2]: its ES module file) with traits from JSON
// (argv[3]) into a minimal fake DOM; prints every text node and the number of SVG rects.
import { pathToFileURL } from "node:url";

class Node {
  constructor(tag) {
    Object.assign(this, { tag, children: [], attrs: {}, style: {}, textContent: "" });
  }
  set className(v) { this.attrs.class = v; }
  setAttribute(k, v) { this.attrs[k] = v; }
  appendChild(c) { this.children.push(c); return c; }
  append(...cs) { this.children.push(...cs); }
  replaceChildren() { this.children = []; }
  addEventListener() {}
  getBoundingClientRect() { return { width: 1 }; }
}
globalThis.document = { createElement: (t) => new Node(t), createElementNS: (_, t) => new Node(t) };
const traits = JSON.parse(process.argv[3]);
const model = { get: (k) => traits[k], on() {}, off() {}, set() {}, save_changes() {} };
const view = (await import(pathToFileURL(process.argv[2]).href)).default;
const el = new Node("div");
view.render({ model, el });
const all = [];
const walk = (n) => { all.push(n); n.children.forEach(walk); };
walk(el);
console.log(JSON.stringify({
  texts: all.map((n) => n.textContent).filter(Boolean),
  rects: all.filter((n) => n.tag === "rect").length,
}));
