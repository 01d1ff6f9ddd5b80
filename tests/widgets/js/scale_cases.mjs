// Runs the axis helpers of workbench/widgets/_scale.js on the inputs given as JSON (argv[3])
// and prints what they return, for tests/widgets/test_widgets_scale_js.py to check.
// Non-finite numbers travel as the strings "NaN", "inf", "-inf".
import { pathToFileURL } from "node:url";

const scale = await import(pathToFileURL(process.argv[2]).href);
const decode = (v) => (v === "NaN" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);
const encode = (v) => (Number.isNaN(v) ? "NaN" : v === Infinity ? "inf" : v === -Infinity ? "-inf" : v);
const results = JSON.parse(process.argv[3]).map((values) => {
  const data = Float32Array.from(values.map(decode));
  const [lo, hi] = scale.wbRange(data);
  return {
    range: [lo, hi].map(encode),
    axis: scale.wbTicks(lo, hi, 5, true).map(encode),
    inner: scale.wbTicks(lo, hi).map(encode),
    labels: scale.wbTicks(lo, hi, 5, true).map(scale.wbFmt),
    note: scale.wbNonFinite(data).note,
  };
});
console.log(JSON.stringify(results));
