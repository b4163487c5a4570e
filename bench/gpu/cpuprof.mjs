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
  // The benchmark's counters wrap WebGPU's calls: their self time is the calls' own.
  if (/(^|\.)(deviceProto|queueProto|bufferProto|proto)\./.test(cf.functionName) || /Proto\./.test(cf.functionName)) return 'webgpu calls';
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
// Who calls the costliest functions: each one's heaviest call paths (six frames up).
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (id) => {
  const cf = byId.get(id).callFrame;
  return `${cf.functionName || '(anonymous)'}@${cf.url.split('/').pop()}:${cf.lineNumber}`;
};
const paths = new Map();
for (const [id, ms] of self) {
  const cf = byId.get(id).callFrame;
  const key = `${cf.functionName || '(anonymous)'} [${kindOf(cf)}]`;
  const chain = [];
  for (let p = parent.get(id), i = 0; p !== undefined && i < 6; p = parent.get(p), i++) chain.push(label(p));
  const m = paths.get(key) ?? new Map();
  m.set(chain.join(' < '), (m.get(chain.join(' < ')) ?? 0) + ms);
  paths.set(key, m);
}
const callers = top(fns, 6).map(({ name }) => ({ name, paths: top(paths.get(name), 4) }));
console.log(JSON.stringify({ totalMs: Math.round(total), kinds: top(kinds, 20), functions: top(fns, 50), callers }, null, 1));
