// Summarises a V8 .cpuprofile (node --cpu-prof) into where the host's time went: self time by
// function and by kind of code (WebAssembly: onnxruntime's C++; the WebGPU bindings: native
// functions called from JavaScript; JavaScript by file; idle: waiting, e.g. for the GPU).
// Usage: node cpuprof.mjs FILE.cpuprofile > summary.json
import { readFileSync } from 'node:fs';

const prof = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000));
const kindOf = (cf) => {
  if (cf.url.startsWith('wasm://') || /^\$?wasm-function/.test(cf.functionName)) return 'wasm';
  if (/^\((idle|program|garbage collector)\)$/.test(cf.functionName)) return cf.functionName;
  if (!cf.url) return 'native (bindings)';
  return `js ${cf.url.split('/').pop()}`;
};
const fns = new Map();
const kinds = new Map();
let total = 0;
for (const [id, ms] of self) {
  const cf = byId.get(id).callFrame;
  const k = kindOf(cf);
  const key = `${cf.functionName || '(anonymous)'} [${k}]`;
  fns.set(key, (fns.get(key) ?? 0) + ms);
  kinds.set(k, (kinds.get(k) ?? 0) + ms);
  total += ms;
}
const top = (m, n) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => ({ name, ms: Math.round(ms), share: +(ms / total).toFixed(3) }));
console.log(JSON.stringify({ totalMs: Math.round(total), kinds: top(kinds, 20), functions: top(fns, 50) }, null, 1));
