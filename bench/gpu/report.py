"""The GPU table from one run's files (webgpu.jsonl and torch.jsonl written by one device call).

  python3 bench/gpu/report.py DIR            (markdown on stdout)

Every ratio is computed between rows of that one run: WebGPU dense over each mode at the same
context (time and accountant peak), and each WebGPU row against PyTorch + PEFT fp32 (SDPA) and
bf16 autocast at the same context.
"""

import json
import sys
from pathlib import Path


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main() -> None:
    d = Path(sys.argv[1])
    web = load(d / "webgpu.jsonl")
    torch = [r for r in load(d / "torch.jsonl") if "error" not in r]
    bench = [r for r in web if r["kind"] == "bench"]
    ceilings = {r["kernel"]: r for r in web if r["kind"] == "ceiling"}
    env = next((r for r in web if r["kind"] == "environment"), {})
    mb = lambda b: f"{b / 2**20:.0f}" if b is not None else "–"

    def torch_row(ctx: int, precision: str, attn: str = "sdpa"):
        rows = [r for r in torch if r["ctx"] == ctx and r["precision"] == precision and r["attn"] == attn]
        return rows[-1] if rows else None  # the last: the call that also ran WebGPU

    print(f"Adapter: {env.get('adapter', {}).get('device', '?')} ({env.get('adapter', {}).get('description', '')}), node {env.get('node', '?')}")
    for name, c in ceilings.items():
        ms = c.get("msPerProduct", c.get("msPerRun"))
        print(f"- ceiling, {name}: {c['gflops']:.0f} GFLOP/s ({ms:.2f} ms{' per product' if 'msPerProduct' in c else ' per chain of ' + str(c.get('chain')) + ' products'}, n = {c['n']})")
    wgsl = ceilings.get("wgsl-tiled-64x64", {}).get("gflops")
    print()
    print("| ctx | mode | WebGPU step ms | dense/mode time | dense/mode peak | accountant peak MB | GPU buffers MB | loss | kept (layers) | PyTorch fp32 ms | PyTorch bf16 ms | WebGPU ÷ PyTorch fp32 | WebGPU ÷ PyTorch bf16 | useful GFLOP/s (share of WGSL ceiling) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in bench:
        dense = next((x for x in bench if x["ctx"] == r["ctx"] and x["mode"] == "dense"), None)
        t32 = torch_row(r["ctx"], "fp32")
        t16 = torch_row(r["ctx"], "bf16-autocast")
        useful = r.get("usefulGflops")
        share = f" ({100 * useful / wgsl:.2f}%)" if useful and wgsl and r["mode"] == "dense" else ""
        print(
            f"| {r['ctx']} | {r['mode']} | {r['medianStepMs']:.0f} | "
            f"{dense['medianStepMs'] / r['medianStepMs']:.2f} | {dense['peakBytes'] / r['peakBytes']:.2f} | "
            f"{mb(r['peakBytes'])} | {mb(r.get('devicePeakBytes'))} | {r['loss']:.4f} | {' '.join(f'{k:.2f}' for k in r['keptShare'])} | "
            f"{t32['medianStepMs']:.1f} | {t16['medianStepMs']:.1f} | {r['medianStepMs'] / t32['medianStepMs']:.1f}× | {r['medianStepMs'] / t16['medianStepMs']:.1f}× | "
            f"{(f'{useful:.0f}' + share) if r['mode'] == 'dense' and useful else '–'} |"
            if dense and t32 and t16
            else f"| {r['ctx']} | {r['mode']} | {r['medianStepMs']:.0f} | – | – | {mb(r['peakBytes'])} | {mb(r.get('devicePeakBytes'))} | {r['loss']:.4f} | | | | | | |"
        )
    base = [r for r in web if r["kind"] == "baseline"]
    if base:
        print()
        print("Same run, the engine's default 16 MiB transient budget against the run's budget:")
        print()
        print("| ctx | mode | budget MiB | step ms | main budget step ms | speed-up |")
        print("|---|---|---|---|---|---|")
        for b in base:
            m = next((x for x in bench if x["ctx"] == b["ctx"] and x["mode"] == b["mode"]), None)
            if m:
                print(f"| {b['ctx']} | {b['mode']} | {b['transientBudget'] / 2**20:.0f} | {b['medianStepMs']:.0f} | {m['medianStepMs']:.0f} ({(m.get('transientBudget') or 16 * 2**20) / 2**20:.0f} MiB) | {b['medianStepMs'] / m['medianStepMs']:.2f} |")
    errors = [r for r in web if r["kind"] == "error"]
    for e in errors:
        print(f"\nerror ({e.get('phase', 'bench')}, ctx {e.get('ctx', '–')}): {e['message'][:300]}")


if __name__ == "__main__":
    main()
