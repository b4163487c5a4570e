/// <reference types="@webgpu/types" />
// `lemo bench` with onnxruntime-web's WebGPU provider in Node, on a real GPU through Dawn
// (the `webgpu` npm package's dawn.node). Bundled by bench/gpu/pack.sh into one file that runs
// on a machine with nothing but the node binary; everything it needs comes by path:
//
//   node bench.mjs --dawn DIR/dawn.node --ort DIR/ort.bundle.min.mjs --wasm DIR/ort-wasm-simd-threaded.jsep.wasm \
//     --ctx 2048,4096,8192,16384 --modes dense,oracle --out OUT [--profile-ctx 4096] [--ceiling]
//
// Writes OUT/webgpu.jsonl (one JSON object per line: environment, ceiling, bench rows, profiles).
// Each context runs with linear RoPE scaling ctx/1024 (the default model has 1024 positions).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import {
  decodeDataset, DEFAULT_SETTINGS, EngineSession, gpuBufferBytes, GraphBuilder, installGpuBufferTracker, parseDataset, Runtime,
  type BenchRow, type Ort, type Sparsity, type TrainSettings,
} from '../../src/engine/node';
import { loadTokenizer } from '../../src/engine/model/tokenizer';
import { usefulFlops } from './flops';
import { wgslMatmulCeiling } from './wgsl-matmul';
import { dawnOptions, installDawn, loadOrt } from './dawn-env';

const program = dawnOptions(new Command())
  .option('--model <dir>', 'model folder', 'public/models/lemo-tiny')
  .option('--tokenizer <dir>', "folder whose tokenizer.json makes the token ids (the model folder's when it has one)")
  .option('--no-own-graphs', "keep every graph in onnxruntime (the engine's own WGSL kernels run the graphs its planner handles otherwise: graph-plan.ts)")
  .option('--no-kernels', "keep attention and AdamW in onnxruntime's graphs (the engine's WGSL kernels otherwise)")
  .option('--data <file>', 'dataset', 'public/data/books-long/train.jsonl.gz')
  .option('--ctx <list>', 'contexts', '2048,4096,8192,16384')
  .option('--modes <list>', "modes (dense, oracle, lemo, and keep: lemo's kept counts by a fixed spread, no predictors)", 'dense,oracle')
  .option('--steps <n>', 'optimizer steps per (mode, ctx)', '4')
  .option('--seed <n>', 'seed', '0')
  .option('--lr <x>', 'learning rate', '1e-3')
  .option('--predictors <file>', 'predictors file (lemo mode)')
  .option('--policy <json>', "per-layer kept share for oracle and lemo, as `lemo bench --policy` (the paper artifact's when unset)")
  .option('--mlp-keep <x>', 'share of MLP channels the backward keeps in sparse layers, as `lemo bench --mlp-keep`')
  .option('--block <n>', "the oracle's block size", '32')
  .option('--profile-ctx <n>', "also profile one step per mode at this context with onnxruntime's WebGPU profiling")
  .option('--ceiling', 'measure the matrix-multiply ceiling (own WGSL kernel and onnxruntime MatMul)')
  .option('--attention-bench', "time the engine's attention kernels alone at each context, in the model's head layout")
  .option('--transient-mib <n>', "bytes (MiB) one transient tensor of a segmented run may take (the engine's WebGPU default, 128, when unset)")
  .option('--baseline-mib <n>', 'after the main runs, the same benchmark at --baseline-ctx with this transient budget (before/after)')
  .option('--baseline-ctx <list>', 'contexts of the baseline runs', '4096')
  .option('--baseline-modes <list>', 'modes of the baseline runs', 'dense')
  .option('--dawn-flags <list>', "flags for dawn.node create(), separated by ';' (a flag's value may hold commas: enable-dawn-features=a,b)", 'enable-dawn-features=allow_unsafe_apis')
  .option('--ep-options <json>', "onnxruntime's WebGPU provider options (e.g. {\"validationMode\":\"disabled\"})")
  .option('--ort-log <n>', "onnxruntime's log severity per session (0 verbose: lists nodes placed off the GPU)")
  .option('--offload <mode>', "each row again with saved activations offloaded to host memory ('host'), the step-time ratio measured in the same run")
  .option('--pool-mib <n>', "GPU buffers kept free for reuse, MiB (the engine's WebGPU default when unset; 0: each buffer made and freed)")
  .option('--cpu-prof-steps <file>', "after the rows, V8's CPU profile of two more steps of the first context and mode (sessions already made) into this .cpuprofile")
  .option('--out <dir>', 'output folder', 'bench/gpu/out')
  .parse();
const o = program.opts<{
  dawn: string; ort: string; wasm: string; model: string; data: string; ctx: string; modes: string; steps: string; seed: string; lr: string;
  predictors?: string; policy?: string; mlpKeep?: string; offload?: string; block: string; profileCtx?: string; ceiling?: boolean; dawnFlags: string; out: string;
  ortLog?: string; epOptions?: string; cpuProfSteps?: string; poolMib?: string; transientMib?: string; baselineMib?: string; baselineCtx: string; baselineModes: string;
  tokenizer?: string; kernels: boolean; attentionBench?: boolean; ownGraphs: boolean;
}>();

mkdirSync(o.out, { recursive: true });
const outFile = join(o.out, 'webgpu.jsonl');
writeFileSync(outFile, '');
const emit = (kind: string, data: object) => {
  appendFileSync(outFile, `${JSON.stringify({ kind, ...data })}\n`);
};
const log = (s: string) => process.stderr.write(`${s}\n`);
// A failure inside onnxruntime's promise chains (e.g. reading timestamps) is recorded, not fatal.
process.on('unhandledRejection', (e) => {
  emit('error', { phase: 'unhandled', message: String((e as Error)?.message ?? e) });
  log(`unhandled: ${String((e as Error)?.message ?? e)}`);
});

// --- WebGPU in Node: Dawn's globals and navigator.gpu, before onnxruntime loads.
const { dawn, gpu } = installDawn(o.dawn, o.dawnFlags ? o.dawnFlags.split(';') : []);
const queueProto = (dawn.globals.GPUQueue as { prototype: GPUQueue }).prototype;
installGpuBufferTracker();

// Host-side counters: submits, buffers created, and GPU→CPU reads (each read waits for the queue).
const counters = { submits: 0, createBuffer: 0, mapAsync: 0, mapWaitMs: 0 };
const bufferProto = (dawn.globals.GPUBuffer as { prototype: GPUBuffer }).prototype;
const mapAsync = bufferProto.mapAsync;
bufferProto.mapAsync = async function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
  counters.mapAsync++;
  const t0 = performance.now();
  try {
    return await mapAsync.apply(this, args);
  } finally {
    counters.mapWaitMs += performance.now() - t0;
  }
};
const submit = queueProto.submit;
queueProto.submit = function (this: GPUQueue, ...args: Parameters<GPUQueue['submit']>) {
  counters.submits++;
  return submit.apply(this, args);
};
const deviceProto = (dawn.globals.GPUDevice as { prototype: GPUDevice }).prototype;
const createBuffer = deviceProto.createBuffer;
deviceProto.createBuffer = function (this: GPUDevice, ...args: Parameters<GPUDevice['createBuffer']>) {
  counters.createBuffer++;
  return createBuffer.apply(this, args);
};

/** The host counters' growth since a snapshot of them. */
const countersSince = (before: typeof counters) =>
  Object.fromEntries(Object.entries(counters).map(([k, v]) => [k, v - before[k as keyof typeof counters]]));

const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) throw new Error('No WebGPU adapter: Dawn found no Vulkan driver (check VK_DRIVER_FILES and libvulkan.so.1).');
const info = adapter.info;
emit('environment', {
  node: process.version, adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
  features: [...adapter.features].sort(), limits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize },
  args: o, kernels: o.kernels,
});
log(`adapter: ${info.vendor} ${info.architecture} ${info.description}`);

if (o.ceiling) {
  try {
    const c = await wgslMatmulCeiling(adapter, 4096, log);
    emit('ceiling', { provider: 'webgpu', kernel: 'wgsl-tiled-64x64', ...c });
  } catch (e) {
    emit('error', { phase: 'ceiling-wgsl', message: (e as Error).message });
    log(`WGSL ceiling failed: ${(e as Error).message}`);
  }
}

// --- onnxruntime-web's JSEP build (the default `onnxruntime-web` entry), wasm given as bytes.
const ort = await loadOrt(o.ort, o.wasm, o.ortLog === '0');

type KernelRecord = Parameters<NonNullable<NonNullable<Ort['env']['webgpu']['profiling']>['ondata']>>[0];
let kernels: KernelRecord[] | null = null;
ort.env.webgpu.profiling = { mode: 'off', ondata: (d) => kernels?.push({ ...d }) };

const born = performance.now();
const mib = (v: string | undefined) => (v === undefined ? undefined : Number(v) * 2 ** 20);
const rt = new Runtime(ort, { provider: 'webgpu', kernels: o.kernels, ownGraphs: o.ownGraphs, bufferPoolBytes: mib(o.poolMib), webgpu: o.epOptions ? (JSON.parse(o.epOptions) as Record<string, unknown>) : undefined, probe: gpuBufferBytes, transientBudget: mib(o.transientMib), sessionLogLevel: o.ortLog === undefined ? undefined : (Number(o.ortLog) as 0 | 1 | 2 | 3 | 4), log: (line) => {
  emit('session', { t: performance.now() - born, line });
  if (o.ortLog !== undefined) log(line);
} });
const session = new EngineSession(rt, () => {});
// Every bench call tokenizes the same documents: once is enough.
const tokenize = session.tokenize.bind(session);
let tokenized: number[][] | null = null;
session.tokenize = (d) => (tokenized ??= tokenize(d));
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as unknown;
// A model folder made on this machine (bench/gpu/make_model.py) has no tokenizer: the ids come
// from another folder's, all inside its vocabulary.
const tokDir = o.tokenizer ?? o.model;
const ownTokenizer = tokDir === o.model;
session.loadModel({
  config: readJson(join(o.model, 'config.json')),
  weights: new Uint8Array(readFileSync(join(o.model, 'model.safetensors'))),
  tokenizer: ownTokenizer ? readJson(join(tokDir, 'tokenizer.json')) : undefined,
  tokenizerConfig: ownTokenizer && existsSync(join(tokDir, 'tokenizer_config.json')) ? readJson(join(tokDir, 'tokenizer_config.json')) : undefined,
});
if (!ownTokenizer) {
  const tok = loadTokenizer(readJson(join(tokDir, 'tokenizer.json')));
  session.tokenize = (d) => (tokenized ??= d.map((x) => tok.encode(x.text)));
}
const cfg = session.config;
const docs = parseDataset(basename(o.data), decodeDataset(basename(o.data), new Uint8Array(readFileSync(o.data))));
const ctxs = o.ctx.split(',').map(Number);
const modeNames = o.modes.split(',');
const lora = { loraR: DEFAULT_SETTINGS.loraR, loraAlpha: DEFAULT_SETTINGS.loraAlpha, targetModules: [] as string[] };

if (o.ceiling) await ortCeiling().catch((e: Error) => {
  emit('error', { phase: 'ceiling-ort', message: e.message });
  log(`onnxruntime ceiling failed: ${e.message}`);
});

async function ortCeiling() {
  // onnxruntime's own MatMul on the same provider: 4 chained 4096² products, inputs on the GPU.
  const n = 4096;
  const chain = 4;
  const b = new GraphBuilder('matmul_chain');
  let x = b.input('a', 'float32', [n, n]);
  const w = b.input('b', 'float32', [n, n]);
  for (let i = 0; i < chain; i++) x = b.op1('MatMul', [x, w]);
  b.output(b.reduceSum(x, [0, 1], false), 'y');
  const g = b.build();
  const rand = (len: number, scale: number) => Float32Array.from({ length: len }, () => (Math.random() * 2 - 1) * scale);
  const a = await rt.upload(rt.tensor('float32', rand(n * n, 1), [n, n]));
  const bw = await rt.upload(rt.tensor('float32', rand(n * n, 1 / Math.sqrt(n)), [n, n]));
  const times: number[] = [];
  for (let r = 0; r < 8; r++) {
    const t0 = performance.now();
    const out = await rt.run(g, { a, b: bw });
    await rt.read(out.y);
    times.push(performance.now() - t0);
    rt.dispose(out.y);
  }
  const med = median(times.slice(2));
  const gflops = (chain * 2 * n ** 3) / (med / 1e3) / 1e9;
  emit('ceiling', { provider: 'webgpu', kernel: o.ownGraphs && o.kernels ? 'engine-graph-MatMul' : 'onnxruntime-MatMul', n, chain, msPerRun: med, times, gflops });
  log(`onnxruntime MatMul ${n}³ ×${chain}: ${med.toFixed(1)} ms per run, ${gflops.toFixed(0)} GFLOP/s`);
  rt.dispose(a);
  rt.dispose(bw);

  // Launch cost: 400 element-wise kernels on 1024 floats (nothing to compute), output read back.
  const N = 400;
  const c = new GraphBuilder('launch_chain');
  let y = c.input('x', 'float32', [1024]);
  const v = c.input('v', 'float32', [1024]);
  for (let i = 0; i < N; i++) y = c.op1(i % 2 ? 'Add' : 'Mul', [y, v]);
  c.output(y, 'y');
  const launchGraph = c.build();
  const feeds = { x: rt.tensor('float32', new Float32Array(1024).fill(1), [1024]), v: rt.tensor('float32', new Float32Array(1024).fill(1), [1024]) };
  const launch: number[] = [];
  for (let r = 0; r < 8; r++) {
    const t0 = performance.now();
    const out = await rt.run(launchGraph, feeds);
    await rt.read(out.y);
    launch.push(performance.now() - t0);
    rt.dispose(out.y);
  }
  const perRun = median(launch.slice(2));
  emit('launch', { kernels: N, msPerRun: perRun, usPerKernel: (1000 * perRun) / N, times: launch });
  log(`launch cost: ${N} element-wise kernels in ${perRun.toFixed(1)} ms, ${((1000 * perRun) / N).toFixed(0)} µs per kernel`);
  rt.dispose(feeds.x);
  rt.dispose(feeds.v);
  await reshapeCost(N);
  await rawDispatchCost(N);
}

/** The same chain of Reshapes (no GPU work): what onnxruntime's executor costs a node without a dispatch. */
async function reshapeCost(N: number) {
  const c = new GraphBuilder('reshape_chain');
  let y = c.input('x', 'float32', [1024]);
  for (let i = 0; i < N; i++) y = c.op1('Reshape', [y, c.ints(i % 2 ? [1024] : [32, 32])]);
  c.output(c.op1('Add', [y, y]), 'y');
  const g = c.build();
  const x = rt.tensor('float32', new Float32Array(1024).fill(1), [1024]);
  const times: number[] = [];
  for (let r = 0; r < 8; r++) {
    const t0 = performance.now();
    const out = await rt.run(g, { x });
    await rt.read(out.y);
    times.push(performance.now() - t0);
    rt.dispose(out.y);
  }
  rt.dispose(x);
  const perRun = median(times.slice(2));
  emit('launch', { what: 'reshape', kernels: N, msPerRun: perRun, usPerNode: (1000 * perRun) / N, times });
  log(`reshape cost: ${N} Reshapes in ${perRun.toFixed(1)} ms, ${((1000 * perRun) / N).toFixed(0)} µs per node`);
}

/**
 * The host's floor for one dispatch on this device: a uniform written, a bind group made, the
 * pipeline and group set and the dispatch recorded, N times in one pass (what a provider does a kernel).
 */
async function rawDispatchCost(N: number) {
  const device = (await (ort.env.webgpu as unknown as { device: Promise<GPUDevice> }).device) as GPUDevice;
  const code = '@group(0) @binding(0) var<uniform> u: vec4f; @group(0) @binding(1) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < 1024u) { y[g.x] = y[g.x] * u.x + u.y; } }';
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const y = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
  const uniforms = Array.from({ length: N }, () => device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
  const times: number[] = [];
  for (let r = 0; r < 8; r++) {
    const t0 = performance.now();
    const e = device.createCommandEncoder();
    const pass = e.beginComputePass();
    for (let i = 0; i < N; i++) {
      device.queue.writeBuffer(uniforms[i], 0, new Float32Array([1, 0.5, 0, 0]));
      const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: uniforms[i] } }, { binding: 1, resource: { buffer: y } }] });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(16);
    }
    pass.end();
    device.queue.submit([e.finish()]);
    const host = performance.now() - t0;
    await device.queue.onSubmittedWorkDone();
    times.push(host);
  }
  y.destroy();
  for (const u of uniforms) u.destroy();
  const perRun = median(times.slice(2));
  emit('launch', { what: 'raw-dispatch', kernels: N, msPerRun: perRun, usPerDispatch: (1000 * perRun) / N, times });
  log(`raw dispatch: ${N} in ${perRun.toFixed(1)} ms of host time, ${((1000 * perRun) / N).toFixed(1)} µs per dispatch`);
}

function median(xs: number[]): number {
  return [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
}

// The CLI's choice of sparsity per mode (as `lemo bench` makes it: for the longest context, the
// lemo mode's predictors read and uploaded once).
const sparsities = new Map<string, Sparsity>();
/** --policy's JSON, given inline or as a file; null when unset. */
function policyOption(): unknown {
  return o.policy ? JSON.parse(existsSync(o.policy) ? readFileSync(o.policy, 'utf8') : o.policy) : null;
}

async function sparsityOf(mode: string): Promise<Sparsity> {
  if (mode === 'lemo') {
    const path = o.predictors ?? join(o.model, 'predictors.safetensors');
    session.loadPredictors(new Uint8Array(readFileSync(path)), path);
  }
  const policy = policyOption() as TrainSettings['policy'];
  return session.sparsityFor({ ...DEFAULT_SETTINGS, sparsity: mode as TrainSettings['sparsity'], block: Number(o.block), policy, mlpKeep: o.mlpKeep === undefined ? null : Number(o.mlpKeep) });
}
/**
 * The 'keep' mode: in each layer the policy makes sparse, as many blocks as lemo keeps there, spread
 * evenly over the sequence (shifted by the layer) and chosen on the host: lemo's kernels without
 * its predictors and their read back, what a selection on the GPU could at best reach.
 */
async function keepSparsity(ctx: number): Promise<Sparsity> {
  const block = Number(o.block);
  const nb = Math.ceil(ctx / block);
  const shares = policyOption();
  if (!Array.isArray(shares)) throw new Error('the keep mode needs --policy as a list of kept shares (null: dense)');
  const layers = (shares as (number | null)[]).map((share, l) => {
    if (share === null) return null;
    const k = Math.max(1, Math.ceil(share * nb));
    return [...new Set(Array.from({ length: k }, (_, i) => (Math.floor((i * nb) / k) + l) % nb))].sort((a, b) => a - b);
  });
  return session.sparsityFor({ ...DEFAULT_SETTINGS, block, mlpKeep: o.mlpKeep === undefined ? null : Number(o.mlpKeep) }, { json: { block, layers }, T: ctx });
}

async function modesFor(ctx: number, names = modeNames) {
  const out = [];
  for (const m of names) {
    if (m === 'keep') {
      out.push({ name: m, sparsity: await keepSparsity(ctx) });
      continue;
    }
    if (!sparsities.has(m)) sparsities.set(m, await sparsityOf(m));
    out.push({ name: m, sparsity: sparsities.get(m)! });
  }
  return out;
}

const setRope = (ctx: number) => {
  if (cfg.rope) cfg.rope.linearFactor = Math.max(1, ctx / cfg.maxPositions);
};

// Two more steps per mode with GPU timestamps on every kernel; host time per graph beside it.
async function profile(ctx: number) {
  setRope(ctx);
  ort.env.webgpu.profiling!.mode = 'default';
  for (const mode of await modesFor(ctx)) {
    kernels = [];
    rt.runTime.clear();
    const runs = new Map<string, number>();
    const previous = rt.onSample;
    rt.onSample = (m) => {
      runs.set(m.phase, (runs.get(m.phase) ?? 0) + 1);
      previous?.(m);
    };
    const before = { ...counters };
    const t0 = performance.now();
    await session.bench(docs, { ctxs: [ctx], modes: [mode], steps: 2, seed: Number(o.seed), lr: Number(o.lr), lora, recall: false }, () => {});
    const wallMs = performance.now() - t0;
    rt.onSample = previous;
    const host = countersSince(before);
    // Timestamps arrive after the GPU finishes and their buffers map.
    await (await ort.env.webgpu.device).queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 500));
    const byType = new Map<string, { ms: number; count: number }>();
    const byProgram = new Map<string, { ms: number; count: number }>();
    let gpuMs = 0;
    for (const k of kernels) {
      const ms = (k.endTime - k.startTime) / 1e6;
      gpuMs += ms;
      for (const [map, key] of [[byType, k.kernelType], [byProgram, `${k.kernelType}:${k.programName}`]] as const) {
        const e = map.get(key) ?? { ms: 0, count: 0 };
        e.ms += ms;
        e.count++;
        map.set(key, e);
      }
    }
    const sorted = (m: Map<string, { ms: number; count: number }>) => [...m.entries()].sort((p, q) => q[1].ms - p[1].ms).map(([name, v]) => ({ name, ...v }));
    // Largest single kernels, with their input shapes.
    const top = [...kernels].sort((p, q) => q.endTime - q.startTime - (p.endTime - p.startTime)).slice(0, 25)
      .map((k) => ({ type: k.kernelType, program: k.programName, ms: (k.endTime - k.startTime) / 1e6, inputs: k.inputsMetadata.map((m) => m.dims) }));
    const hostByGraph = [...rt.runTime.entries()].sort((p, q) => q[1] - p[1]).map(([name, ms]) => ({ name, ms, runs: runs.get(name) ?? 0 }));
    emit('profile', { mode: mode.name, ctx, steps: 2, wallMs, kernelCount: kernels.length, gpuKernelMs: gpuMs, host, byType: sorted(byType), byProgram: sorted(byProgram).slice(0, 60), top, hostByGraph });
    log(`profile ${mode.name} ctx ${ctx}: wall ${wallMs.toFixed(0)} ms for 2 steps, ${kernels.length} kernels, GPU busy ${gpuMs.toFixed(0)} ms, ${[...runs.values()].reduce((p, q) => p + q, 0)} session runs, ${JSON.stringify(host)}`);
    for (const t of sorted(byType).slice(0, 12)) log(`   ${t.name.padEnd(28)} ${t.ms.toFixed(1).padStart(9)} ms  ×${t.count}`);
  }
  ort.env.webgpu.profiling!.mode = 'off';
  kernels = null;
}

// The same benchmark under another transient budget (before/after), right after the main runs at that context.
async function baseline(ctx: number) {
  const main = rt.transientBudget;
  rt.transientBudget = mib(o.baselineMib);
  try {
    await session.bench(docs, { ctxs: [ctx], modes: await modesFor(ctx, o.baselineModes.split(',')), steps: Number(o.steps), seed: Number(o.seed), lr: Number(o.lr), lora }, (r) => {
      emit('baseline', { ...r, transientBudget: rt.transientBudget ?? null, ropeScale: cfg.rope?.linearFactor ?? null });
      log(`baseline (${o.baselineMib} MiB) ${r.mode.padEnd(7)} ctx ${String(ctx).padStart(6)}  step ${r.medianStepMs.toFixed(0).padStart(7)} ms  [${r.stepMs.map((t) => t.toFixed(0)).join(' ')}]`);
    });
  } finally {
    rt.transientBudget = main;
  }
}

// The attention kernels alone: forward, and forward + backward, causal over every row, timed
// after a warm-up (a read back of the output waits for the GPU).
async function attentionBench(ctx: number) {
  const kernels = await rt.kernels();
  if (!kernels) return;
  const [H, KV, D] = [cfg.heads, cfg.kvHeads, cfg.headDim];
  const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const up = (n: number, dims: number[]) => rt.upload(rt.tensor('float32', rand(n), dims));
  const [q, k, v, dO] = [await up(H * ctx * D, [1, H, ctx, D]), await up(KV * ctx * D, [1, KV, ctx, D]), await up(KV * ctx * D, [1, KV, ctx, D]), await up(H * ctx * D, [1, H, ctx, D])];
  const shape = { B: 1, H, KV, N: ctx, D, group: 0 };
  const positions = Array.from({ length: ctx }, (_, i) => i);
  const time = async (backward: boolean) => {
    const once = async () => {
      const f = kernels.attentionForward(q, k, v, shape, positions, null);
      const out = [f.o, f.lse];
      if (backward) {
        const b = kernels.attentionBackward({ q, k, v, o: f.o, lse: f.lse, dO }, shape, positions, null);
        out.push(b.dq, b.dk, b.dv);
      }
      return out;
    };
    for (const t of await once()) t.dispose();
    // The best of 3 rounds of 5 runs (the GPU's clock rises under load).
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const runs = 5;
      const t0 = performance.now();
      const all: Awaited<ReturnType<typeof once>>[] = [];
      for (let r = 0; r < runs; r++) all.push(await once());
      await all[runs - 1][all[runs - 1].length - 1].getData();
      best = Math.min(best, (performance.now() - t0) / runs);
      all.flat().forEach((t) => t.dispose());
    }
    return best;
  };
  const fwdMs = await time(false);
  const stepMs = await time(true);
  // Causal: half of the N² score pairs; forward 2 products (QKᵀ, PV), backward 5 of FlashAttention-2's count.
  const pairs = (ctx * ctx) / 2 * H;
  const fwdFlop = 2 * 2 * pairs * D;
  const bwdFlop = 5 * 2 * pairs * D;
  emit('attention', { ctx, H, KV, D, fwdMs, bwdMs: stepMs - fwdMs, fwdTflops: fwdFlop / fwdMs / 1e9, bwdTflops: bwdFlop / (stepMs - fwdMs) / 1e9 });
  log(`attention kernels ctx ${ctx} (H ${H}, KV ${KV}, D ${D}): forward ${fwdMs.toFixed(2)} ms (${(fwdFlop / fwdMs / 1e9).toFixed(1)} TFLOP/s), backward ${(stepMs - fwdMs).toFixed(2)} ms (${(bwdFlop / (stepMs - fwdMs) / 1e9).toFixed(1)} TFLOP/s)`);
  for (const t of [q, k, v, dO]) rt.dispose(t);
}

const rows: BenchRow[] = [];
for (const ctx of ctxs) {
  if (o.attentionBench) await attentionBench(ctx).catch((e: Error) => {
    emit('error', { ctx, phase: 'attention-bench', message: e.message });
    log(`attention bench at ${ctx} failed: ${e.message}`);
  });
  setRope(ctx);
  try {
    rt.runTime.clear();
    let before = { ...counters };
    const offload = o.offload === 'host' ? { mode: 'host' as const } : undefined;
    await session.bench(docs, { ctxs: [ctx], modes: await modesFor(ctx), steps: Number(o.steps), seed: Number(o.seed), lr: Number(o.lr), lora, offload }, (r) => {
      // Submits, buffers made and GPU reads (each waits for the GPU) over this row's steps.
      const host = countersSince(before);
      before = { ...counters };
      const flops = usefulFlops(cfg, ctx, lora.loraR);
      // Host milliseconds inside session runs, per graph, over this row's steps (and its warm-up).
      const hostByGraph = Object.fromEntries([...rt.runTime.entries()].sort((p, q) => q[1] - p[1]).slice(0, 12));
      rt.runTime.clear();
      const row = { ...r, hostByGraph, host, pool: rt.poolStats(), kernels: o.kernels, kernelRuns: rt.kernelRuns, model: basename(o.model), transientBudget: rt.transientBudget ?? null, ropeScale: cfg.rope?.linearFactor ?? null, usefulGflop: flops / 1e9, usefulGflops: flops / (r.medianStepMs / 1e3) / 1e9 };
      rows.push(r);
      emit('bench', row);
      log(`${r.mode.padEnd(7)} ctx ${String(ctx).padStart(6)}  step ${r.medianStepMs.toFixed(0).padStart(7)} ms  [${r.stepMs.map((t) => t.toFixed(0)).join(' ')}]  peak ${(r.peakBytes / 2 ** 20).toFixed(0)} MB  gpu ${((r.devicePeakBytes ?? 0) / 2 ** 20).toFixed(0)} MB  loss ${r.loss.toFixed(4)}${r.offload !== 'none' ? `  offload ${r.offload} ×${r.offloadTimeRatio?.toFixed(2)}` : ''}  kept ${r.keptShare.map((k) => k.toFixed(2)).join(' ')}`);
    });
  } catch (e) {
    emit('error', { ctx, message: (e as Error).message, stack: (e as Error).stack });
    log(`ctx ${ctx} failed: ${(e as Error).message}`);
  }
  if (ctx === Number(o.profileCtx)) {
    try {
      await profile(ctx);
    } catch (e) {
      emit('error', { ctx, phase: 'profile', message: (e as Error).message });
      log(`profile at ${ctx} failed: ${(e as Error).message}`);
    }
  }
  if (o.baselineMib && o.baselineCtx.split(',').map(Number).includes(ctx)) {
    await baseline(ctx).catch((e: Error) => {
      emit('error', { ctx, phase: 'baseline', message: e.message });
      log(`baseline at ${ctx} failed: ${e.message}`);
    });
  }
}

if (o.cpuProfSteps) await profileSteps(o.cpuProfSteps).catch((e: Error) => {
  emit('error', { phase: 'cpu-prof-steps', message: e.message });
  log(`CPU profile of the steps failed: ${e.message}`);
});

/** V8's sampling profile of two steps (first context, first mode), sessions already compiled. */
async function profileSteps(file: string) {
  const { Session } = await import('node:inspector/promises');
  const ins = new Session();
  ins.connect();
  await ins.post('Profiler.enable');
  await ins.post('Profiler.setSamplingInterval', { interval: 200 });
  const ctx = ctxs[0];
  setRope(ctx);
  const mode = (await modesFor(ctx))[0];
  await ins.post('Profiler.start');
  const t0 = performance.now();
  let stepMs: number[] = [];
  await session.bench(docs, { ctxs: [ctx], modes: [mode], steps: 2, seed: Number(o.seed), lr: Number(o.lr), lora, recall: false }, (r) => { stepMs = r.stepMs; });
  const wall = performance.now() - t0;
  const { profile } = (await ins.post('Profiler.stop')) as { profile: unknown };
  writeFileSync(file, JSON.stringify(profile));
  ins.disconnect();
  emit('cpu-prof-steps', { ctx, mode: mode.name, wallMs: wall, stepMs, file });
  log(`CPU profile: ${mode.name} at ${ctx}, 2 steps [${stepMs.map((t) => t.toFixed(0)).join(' ')}] ms, ${wall.toFixed(0)} ms in all`);
}

log('\n| ctx | mode | step ms | peak MB (accountant) | GPU buffers MB | loss | time ratio dense/mode |');
log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  const dense = rows.find((d) => d.ctx === r.ctx && d.mode === 'dense');
  log(`| ${r.ctx} | ${r.mode} | ${r.medianStepMs.toFixed(0)} | ${(r.peakBytes / 2 ** 20).toFixed(0)} | ${((r.devicePeakBytes ?? 0) / 2 ** 20).toFixed(0)} | ${r.loss.toFixed(4)} | ${dense ? (dense.medianStepMs / r.medianStepMs).toFixed(2) : '–'} |`);
}
const runner = o.ownGraphs && o.kernels ? await rt.graphRunner() : null;
if (runner) {
  emit('own-graphs', { ran: Object.fromEntries(runner.counts.ran), declined: Object.fromEntries(runner.counts.declined), dispatches: rt.kernelRuns });
  log(`own graphs: ${[...runner.counts.ran].map(([g, n]) => `${g} ×${n}`).join(', ')}; left to onnxruntime: ${[...runner.counts.declined.values()].join('; ') || 'none'}`);
}
await rt.release();
process.exit(0);
