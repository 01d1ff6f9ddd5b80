// Renders the circuit diagram view (argv[2]: its ES module file) with traits from JSON
// (argv[3]) into a minimal fake DOM, clicks the element drawing node argv[4] (if given) and
// prints every text node, the number of SVG rects and the traits the click set.
import { pathToFileURL } from "node:url";

class Node {
  constructor(tag) {
    Object.assign(this, { tag, children: [], attrs: {}, style: {}, textContent: "", on: {} });
  }
  set className(v) { this.attrs.class = v; }
  setAttribute(k, v) { this.attrs[k] = v; }
  appendChild(c) { this.children.push(c); return c; }
  append(...cs) { this.children.push(...cs); }
  replaceChildren() { this.children = []; }
  addEventListener(type, fn) { this.on[type] = fn; }
  getBoundingClientRect() { return { width: 1 }; }
}
globalThis.document = { createElement: (t) => new Node(t), createElementNS: (_, t) => new Node(t) };
const traits = JSON.parse(process.argv[3]);
const sets = [];
const model = {
  get: (k) => traits[k], on() {}, off() {}, save_changes() {},
  set: (k, v) => { traits[k] = v; sets.push([k, v]); },
};
const view = (await import(pathToFileURL(process.argv[2]).href)).default;
const el = new Node("div");
view.render({ model, el });
const all = [];
const walk = (n) => { all.push(n); n.children.forEach(walk); };
walk(el);
const target = all.find((n) => n.attrs["data-node"] === process.argv[4]);
if (target) target.on.click({ stopPropagation() {} });
console.log(JSON.stringify({
  sets,
  texts: all.map((n) => n.textContent).filter(Boolean),
  rects: all.filter((n) => n.tag === "rect").length,
}));
