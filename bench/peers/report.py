"""Table and chart of bench/peers/run.py's results.jsonl:
  python3 bench/peers/report.py OUT/results.jsonl OUT   ->  OUT/table.md, OUT/peers.png
"""
import json
import os
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from run import MODEL, useful_flops  # noqa: E402

src, out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(src)]
meta = rows[0]
cfg = json.load(open(os.path.join(MODEL, 'config.json')))
ceil = {r['provider']: r['gflops'] for r in rows if r.get('kind') == 'matmul' and 'gflops' in r}
MB = 2 ** 20


def label(r):
    if r.get('peer') == 'torch':
        return 'PyTorch + PEFT CPU', r['mode'], 'torch CPU'
    if r.get('peer') == 'tfjs':
        return f'TF.js {r["backend"]} (Chromium)', 'dense', f'tfjs {r["backend"]} (Chromium)'
    rt = r.get('runtime', '')
    prov = {'Node onnxruntime-node CPU': 'onnxruntime-node CPU', 'Node onnxruntime-web WASM': 'onnxruntime-web WASM (Node)',
            'Chromium worker WASM': 'onnxruntime-web WASM (Chromium page)'}.get(rt)
    return f'engine, {rt}', r.get('mode', '?'), prov


def peak_measure(r):
    if r.get('peer') == 'torch':
        return 'RSS'
    if r.get('peer') == 'tfjs':
        return 'tf.memory'
    return 'accountant'


steps = [r for r in rows if r.get('kind') == 'step']
table = []
for r in steps:
    who, mode, prov = label(r)
    ctx = r.get('ctx')
    ms = r.get('medianStepMs')
    flops = useful_flops(cfg, ctx) if ctx else None
    rate = flops / (ms / 1000) / 1e9 if ms and flops else None
    c = ceil.get(prov)
    table.append({
        'ctx': ctx, 'who': who, 'mode': mode, 'ms': ms, 'peak': r.get('peakBytes'), 'measure': peak_measure(r),
        'gflop': flops / 1e9 if flops else None, 'rate': rate, 'ceiling': c, 'share': rate / c if rate and c else None,
        'err': r.get('lossRelErr'), 'error': r.get('error'), 'loss': r.get('loss'),
    })
table.sort(key=lambda t: (t['ctx'] or 0, t['who'], t['mode']))

f = lambda x, d=0: '–' if x is None else f'{x:,.{d}f}'
lines = [
    f'Run {meta["date"]}, {meta["cpu"]}, {meta["cores"]} cores; Node {meta["node"]}, {meta["chromium"]}, torch {meta["torch"]}, '
    f'transformers {meta["transformers"]}, peft {meta["peft"]}; {meta["steps"]} steps per row (median of those after the first); '
    f'lemo mode: {meta["lemo"]}; wall time {meta["wall_s"]} s.',
    f'Load before: `{meta["uptime_before"]}`; after: `{meta["uptime_after"]}`.',
    '',
    '| ctx | what | mode | step ms | peak MB (measure) | useful GFLOP | GFLOP/s | ceiling GFLOP/s | share of ceiling | loss rel. err. |',
    '|---|---|---|---|---|---|---|---|---|---|',
]
for t in table:
    if t['error'] and t['ms'] is None:
        lines.append(f'| {t["ctx"]} | {t["who"]} | {t["mode"]} | failed: {t["error"][:160]} | | | | | | {f(t["err"] and t["err"], 1) if False else ("%.1e" % t["err"] if t["err"] is not None else "–")} |')
        continue
    lines.append(f'| {t["ctx"]} | {t["who"]} | {t["mode"]} | {f(t["ms"])} | {f(t["peak"] and t["peak"] / MB, 1)} ({t["measure"]}) | {f(t["gflop"], 1)} | {f(t["rate"], 2)} | {f(t["ceiling"], 1)} | {f(t["share"] and 100 * t["share"], 1)}% | {"%.1e" % t["err"] if t["err"] is not None else "–"} |')

lines += ['', '| provider | matmul 1024³ ms | GFLOP/s |', '|---|---|---|']
for r in rows:
    if r.get('kind') == 'matmul':
        lines.append(f'| {r.get("provider")} | {f(r.get("ms"), 1)} | {f(r.get("gflops"), 2) if "gflops" in r else "failed: " + str(r.get("error"))[:120]} |')

# Ratios within this run.
def pick(ctx, who_prefix, mode):
    for t in table:
        if t['ctx'] == ctx and t['who'].startswith(who_prefix) and t['mode'] == mode and t['ms'] is not None:
            return t
    return None

lines += ['', 'Ratios (this run):', '']
for ctx in meta['ctxs']:
    eng_mode = 'lemo' if pick(ctx, 'engine, Chromium', 'lemo') else 'oracle'
    eng = pick(ctx, 'engine, Chromium', eng_mode) or pick(ctx, 'engine, Chromium', 'dense')
    tfs = [t for t in table if t['ctx'] == ctx and t['who'].startswith('TF.js') and t['ms'] is not None]
    best = min(tfs, key=lambda t: t['ms']) if tfs else None
    if eng and best:
        lines.append(f'- {ctx}: TF.js best ({best["who"]}) step / engine {eng["mode"]} in Chromium WASM step = {best["ms"] / eng["ms"]:.2f}×')
    elif eng:
        failed = [t for t in table if t['ctx'] == ctx and t['who'].startswith('TF.js')]
        lines.append(f'- {ctx}: no TF.js step completed ({"; ".join(t["who"] + ": " + (t["error"] or "not run")[:100] for t in failed) or "not run"}); engine {eng["mode"]} in Chromium WASM {eng["ms"]:,.0f} ms')
    tdense = pick(ctx, 'PyTorch', 'dense')
    tckpt = pick(ctx, 'PyTorch', 'dense+ckpt')
    for m in ('dense', 'oracle', 'lemo'):
        e = pick(ctx, 'engine, Node onnxruntime-node', m)
        if e and tdense:
            lines.append(f'- {ctx}: PyTorch dense peak / engine {m} (Node CPU) peak = {tdense["peak"] / e["peak"]:.2f}×; PyTorch dense step / engine {m} step = {tdense["ms"] / e["ms"]:.2f}×'
                         + (f'; PyTorch+ckpt peak / engine {m} peak = {tckpt["peak"] / e["peak"]:.2f}×' if tckpt else ''))
open(os.path.join(out, 'table.md'), 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))

# Chart: step time and peak memory per context, one line per (what, mode).
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(18, 6))
series = {}
for t in table:
    if t['ms'] is not None:
        series.setdefault(f'{t["who"]} {t["mode"]}', []).append(t)
for name, ts in sorted(series.items()):
    xs = [t['ctx'] for t in ts]
    ax1.plot(xs, [t['ms'] / 1000 for t in ts], marker='o', label=name)
    ax2.plot(xs, [(t['peak'] or 0) / MB for t in ts], marker='o', label=name)
    ax3.plot(xs, [100 * (t['share'] or 0) for t in ts], marker='o', label=name)
for ax, title in ((ax1, 'step time (s)'), (ax2, 'peak memory (MB; measures differ, see table)'), (ax3, 'useful FLOP rate, % of own matmul ceiling')):
    ax.set_xscale('log', base=2)
    ax.set_xticks(meta['ctxs'], [str(c) for c in meta['ctxs']])
    ax.set_xlabel('context (tokens)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
ax1.set_yscale('log')
ax1.legend(fontsize=7)
fig.suptitle(f'lemo-tiny, LoRA r8 q/k/v/o, batch 1 — {meta["date"]}, {meta["cores"]} cores shared ({meta["uptime_before"].split("load average:")[-1].strip()} load)')
fig.tight_layout()
fig.savefig(os.path.join(out, 'peers.png'), dpi=110)
