// lemo bench: dense against token elimination on the same windows, one JSON line per
// (mode, ctx) on stdout and a table on stderr.
import { attentionGroup, UserError, type BenchRow, type SpillStore } from '../engine/node';
import { withSpillDir } from './spill-dir';
import { DEFAULT_DATA_FILE, int, num, openSession, readDataset } from './session';
import { attentionSettings, sparsityFrom, type SparsityFlags } from './sparsity-options';
import { mb } from './units';

export interface BenchOptions extends SparsityFlags {
  model: string;
  data?: string;
  ctx: string;
  steps: string;
  modes: string;
  json?: boolean;
  seed: string;
  lr: string;
  loraR: string;
  loraAlpha: string;
  ropeScale?: string;
  threads: string;
  backend: string;
  offload?: 'host' | 'disk';
}


export async function benchCommand(o: BenchOptions): Promise<void> {
  const ctxs = o.ctx.split(',').map((c) => int(c.trim(), 'ctx', 2));
  const modeNames = o.modes.split(',').map((m) => m.trim());
  for (const m of modeNames) if (!['dense', 'oracle', 'lemo'].includes(m)) throw new UserError(`Unknown mode "${m}"; modes are dense, oracle and lemo.`);
  const maxCtx = Math.max(...ctxs);
  const attention = attentionSettings(o);
  const group = attentionGroup(attention, maxCtx);
  for (const c of ctxs) attentionGroup({ ...attention, group }, c);
  const { session, name, summary } = await openSession(o.model, o, { ropeScale: num(o.ropeScale, 'rope-scale'), policy: true });
  const cfg = session.config;
  if (cfg.rope && o.ropeScale === undefined && maxCtx > cfg.maxPositions) {
    process.stderr.write(`note: ${maxCtx} tokens exceed the model's ${cfg.maxPositions} positions; pass --rope-scale ${Math.ceil(maxCtx / cfg.maxPositions)} for linear position scaling.\n`);
  }
  const docs = readDataset(o.data ?? DEFAULT_DATA_FILE);
  const modes = [];
  for (const m of modeNames) modes.push({ name: m, sparsity: await sparsityFrom({ ...o, keep: undefined }, m, session, { dir: o.model, policy: summary.policy }, maxCtx) });
  process.stderr.write(`bench ${name}: ${cfg.layers} layers, contexts ${ctxs.join(', ')}, ${o.steps} steps each, modes ${modeNames.join(', ')}${group ? `, shifted sparse attention in groups of ${group}` : ''} (${o.backend})\n`);
  const plan = {
    ctxs, modes, steps: int(o.steps, 'steps'), seed: int(o.seed, 'seed', 0), lr: num(o.lr, 'lr')!,
    lora: { loraR: int(o.loraR, 'lora-r'), loraAlpha: num(o.loraAlpha, 'lora-alpha')!, targetModules: [] },
  };
  const run = (spill?: SpillStore) => session.bench(docs, { ...plan, offload: o.offload ? { mode: o.offload, store: spill } : undefined }, printRow(o));
  const rows: BenchRow[] = await (o.offload === 'disk' ? withSpillDir(run) : run());
  printTable(rows);
}

/** Each row as it comes: a JSON line on stdout (--json), a line on stderr. */
function printRow(o: BenchOptions): (r: BenchRow) => void {
  return (r) => {
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    const off = r.offload === 'none' ? '' : `  offloaded to ${r.offload}: ${mb(r.offloadedPeakBytes)} MB, step time ×${r.offloadTimeRatio!.toFixed(2)}`;
    process.stderr.write(`  ${r.mode.padEnd(7)} ctx ${String(r.ctx).padStart(6)}  peak ${mb(r.peakBytes).padStart(8)} MB  saved ${mb(r.savedActivationBytes).padStart(8)} MB  step ${r.medianStepMs.toFixed(0).padStart(7)} ms  loss ${r.loss.toFixed(4)}  kept ${r.keptShare.map((k) => k.toFixed(2)).join(' ')}${r.recall ? `  recall ${r.recall.map((x) => (x === null ? '–' : x.toFixed(3))).join(' ')}  predictors ${r.predictMs!.toFixed(0)} ms (${(100 * r.predictShare!).toFixed(1)}% of the step)` : ''}${r.devicePeakBytes !== null ? `  device ${mb(r.devicePeakBytes)} MB` : ''}${off}\n`);
  };
}

function printTable(rows: BenchRow[]): void {
  process.stderr.write('\n| ctx | mode | offload | peak MB | saved act. MB | transient MB | step ms | loss | ratio peak | ratio time | offload time |\n|---|---|---|---|---|---|---|---|---|---|---|\n');
  for (const r of rows) {
    const dense = rows.find((d) => d.ctx === r.ctx && d.mode === 'dense' && d.offload === 'none');
    const ratio = (a?: number, b?: number) => (a && b ? (a / b).toFixed(2) : '–');
    process.stderr.write(`| ${r.ctx} | ${r.mode} | ${r.offload} | ${mb(r.peakBytes)} | ${mb(r.savedActivationBytes)} | ${mb(r.transientPeakBytes)} | ${r.medianStepMs.toFixed(0)} | ${r.loss.toFixed(4)} | ${ratio(dense?.peakBytes, r.peakBytes)} | ${ratio(dense?.medianStepMs, r.medianStepMs)} | ${r.offloadTimeRatio?.toFixed(2) ?? '–'} |\n`);
  }
}
