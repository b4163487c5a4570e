#!/usr/bin/env python3
"""Independent check of `lemo grad` against transformers + PEFT.

Builds N fresh random models (Llama with random sizes / GQA ratios / tied or
untied embeddings / with or without linear RoPE scaling, Qwen2, GPT-2), random
LoRA adapters with non-zero A and B, random tokens (batch 1-3, length 5-40),
writes them to a temp dir, runs

    <lemo> grad --model DIR --adapter DIR --tokens FILE.json --out FILE.safetensors

(or, for "fresh" cases, `--lora-r R --lora-alpha A --target-modules a,b,c`
instead of --adapter) from the repository root, and compares the printed loss
and every gradient tensor with the reference computed by transformers + PEFT
from the same files.

Reference: a true float64 forward/backward (RMSNorm, RoPE, softmax and loss in
float64 too) of the float32 weights; the float32 transformers result is shown
next to it as the float32 noise floor.  Pass criterion: relative error
||a - b|| / ||b|| <= --tol (default 1e-4) for the loss and for every tensor,
same tensor names (PEFT's names, as in adapter_model.safetensors) and shapes.

Fresh cases (no --adapter): the engine initialises LoRA itself (B = 0, A
random and unknown to us).  Then
  * the loss must equal the base model's loss,
  * every lora_A gradient must be ~0 (exactly 0 mathematically, since B = 0),
  * every lora_B gradient must be non-zero where the reference is non-zero and
    lie in the column space of the base weight's gradient dL/dW (out x in):
    gB = scaling * dL/dW @ A^T for whatever A the engine drew.  Fresh cases use
    a single short sequence so that dL/dW has low rank and this is a real test.

--self-test replaces the engine by this script's own float32 transformers
implementation of `grad` (run through the same subprocess / file path) and
also checks that corrupted outputs are rejected.

Exit status: 0 if every case passes, 1 otherwise.

Examples:
  python3 tools/golden/check_cli.py --seed 7 --cases 12
  python3 tools/golden/check_cli.py --lemo "node bin/lemo.js" --cases 4 --keep /tmp/lemo-check
  python3 tools/golden/check_cli.py --self-test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config  # noqa: E402
from transformers.pytorch_utils import Conv1D  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
warnings.filterwarnings("ignore")

REPO_ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()

LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GPT2_TARGETS = ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"]


# --------------------------------------------------------------------------
# Random models
# --------------------------------------------------------------------------


@dataclass
class Case:
    idx: int
    arch: str
    fresh: bool
    config: object
    lora: dict
    ids: torch.Tensor
    desc: str
    dir: Path = None
    result: dict = field(default_factory=dict)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def random_case(idx: int, seed: int, fresh: bool) -> Case:
    rng = random.Random(seed * 100003 + idx)
    arch = ["llama", "gpt2", "qwen2", "llama"][idx % 4]
    if fresh:
        batch, seq = 1, rng.randint(5, 6)
    else:
        batch, seq = rng.randint(1, 3), rng.randint(5, 40)
    vocab = rng.randint(40, 300)
    layers = rng.randint(1, 3)
    # Fresh cases need every LoRA output dim well above the number of tokens
    # (see module docstring), hence head_dim >= 8 and >= 2 kv heads there.
    head_dim = rng.choice([8, 16] if fresh else [4, 8, 16])

    if arch in ("llama", "qwen2"):
        heads = rng.choice([2, 3, 4, 6, 8])
        kv_choices = [d for d in divisors(heads) if not fresh or d * head_dim >= 16]
        kv = rng.choice(kv_choices)
        hidden = heads * head_dim
        inter = rng.randint(16, 96)
        tied = rng.random() < 0.5
        kw = dict(
            vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=rng.choice([64, 128]),
            tie_word_embeddings=tied,
        )
        rope = ""
        if arch == "llama":
            theta = rng.choice([10000.0, 500000.0])
            kw["rms_norm_eps"] = rng.choice([1e-5, 1e-6])
            if rng.random() < 0.5:
                factor = rng.choice([2.0, 4.0, 1.5])
                kw["rope_parameters"] = {"rope_type": "linear", "factor": factor, "rope_theta": theta}
                rope = f" rope=linear*{factor:g}"
            else:
                kw["rope_parameters"] = {"rope_type": "default", "rope_theta": theta}
            cfg = LlamaConfig(**kw)
        else:
            kw["rope_parameters"] = {"rope_type": "default", "rope_theta": rng.choice([10000.0, 1000000.0])}
            cfg = Qwen2Config(**kw)
        targets_all = LLAMA_TARGETS
        desc = (f"{arch} L{layers} h{hidden} H{heads}/kv{kv} ffn{inter} V{vocab}"
                f"{' tied' if tied else ''}{rope}")
    else:
        heads = rng.choice([2, 3, 4, 6])
        hidden = heads * head_dim
        cfg = GPT2Config(
            vocab_size=vocab, n_positions=rng.choice([48, 64, 96]), n_embd=hidden, n_layer=layers, n_head=heads,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0,
            activation_function="gelu_new",
        )
        targets_all = GPT2_TARGETS
        desc = f"gpt2 L{layers} h{hidden} H{heads} V{vocab}"

    k = rng.randint(1, len(targets_all))
    targets = sorted(rng.sample(targets_all, k), key=targets_all.index)
    r = rng.choice([1, 2, 4, 8])
    alpha = rng.choice([r, 2 * r, 16, 32])
    gen = torch.Generator().manual_seed(seed * 100003 + idx)
    ids = torch.randint(0, vocab, (batch, seq), generator=gen, dtype=torch.long)
    desc += f" | r{r} a{alpha} {','.join(targets)} | {batch}x{seq}" + (" FRESH" if fresh else "")
    return Case(idx=idx, arch=arch, fresh=fresh, config=cfg,
                lora=dict(r=r, lora_alpha=alpha, target_modules=targets), ids=ids, desc=desc)


def randomize_params(model: nn.Module, gen: torch.Generator) -> None:
    """Seeded O(1)-scale random weights (HF init would hide bias / norm bugs)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner_name, _, leaf = name.rpartition(".")
            owner = model.get_submodule(owner_name)
            noise = torch.randn(tuple(p.shape), generator=gen, dtype=torch.float32)
            if isinstance(owner, nn.Embedding):
                val = noise * ((1.0 if owner_name.endswith("wpe") else 2.0) / math.sqrt(p.shape[1]))
            elif isinstance(owner, nn.Linear) and leaf == "weight":
                val = noise / math.sqrt(p.shape[1])
            elif isinstance(owner, Conv1D) and leaf == "weight":
                val = noise / math.sqrt(p.shape[0])
            elif leaf == "bias":
                val = noise * 0.1
            elif leaf == "weight" and p.dim() == 1:
                val = 1.0 + noise * 0.2
            else:
                raise RuntimeError(f"don't know how to randomize {name}")
            p.copy_(val)


def write_case(case: Case, root: Path, seed: int) -> None:
    d = root / f"case{case.idx:02d}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    case.dir = d
    torch.manual_seed(seed * 7919 + case.idx)
    gen = torch.Generator().manual_seed(seed * 7919 + case.idx)
    model = AutoModelForCausalLM.from_config(case.config, attn_implementation="eager", dtype=torch.float32)
    randomize_params(model, gen)
    model.save_pretrained(str(d / "model"), safe_serialization=True)
    if not case.fresh:
        pm = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, bias="none", **case.lora))
        with torch.no_grad():
            for name, p in pm.named_parameters():
                if ".lora_A." in name or ".lora_B." in name:
                    p.copy_(torch.randn(tuple(p.shape), generator=gen) * 0.1)
        pm.save_pretrained(str(d / "adapter"), safe_serialization=True)
        (d / "adapter" / "README.md").unlink(missing_ok=True)
    (d / "tokens.json").write_text(json.dumps({"input_ids": case.ids.tolist()}) + "\n")


# --------------------------------------------------------------------------
# Reference (transformers + PEFT)
# --------------------------------------------------------------------------


# The float64 patches and HF's causal-LM loss are make_golden.py's, so the fixtures and this
# check share one reference.
true_float64 = mg.true_float64
lm_loss = mg.causal_lm_loss


def load_base(model_dir: Path, dtype: torch.dtype):
    m = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, attn_implementation="eager")
    m.eval()
    return m


def forward_backward(model: nn.Module, ids: torch.Tensor, f64: bool):
    model.zero_grad(set_to_none=True)
    if f64:
        with true_float64():
            loss = lm_loss(model(input_ids=ids).logits, ids)
    else:
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach()


def lora_grads(pm) -> dict[str, torch.Tensor]:
    out = {}
    for name, p in pm.named_parameters():
        if p.requires_grad:
            assert ".lora_A." in name or ".lora_B." in name, name
            out[name.replace(".default.", ".")] = p.grad.detach().clone()
    return out


def reference_adapter(case_dir: Path, ids: torch.Tensor, dtype: torch.dtype):
    pm = PeftModel.from_pretrained(load_base(case_dir / "model", dtype), str(case_dir / "adapter"), is_trainable=True)
    pm.eval()
    loss = forward_backward(pm, ids, f64=dtype == torch.float64)
    return loss.item(), lora_grads(pm)


def peft_names_shapes(case_dir: Path, lora: dict) -> dict[str, tuple]:
    """Tensor names / shapes PEFT would give a fresh adapter with this config."""
    base = load_base(case_dir / "model", torch.float32)
    pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, bias="none", **lora))
    return {n.replace(".default.", "."): tuple(p.shape) for n, p in pm.named_parameters() if p.requires_grad}


def reference_fresh(case_dir: Path, ids: torch.Tensor, lora: dict, dtype: torch.dtype):
    """Base-model loss and dL/dW (as out x in) for every LoRA-targeted module, keyed by
    the PEFT name prefix (`base_model.model.<module>`)."""
    names = peft_names_shapes(case_dir, lora)
    prefixes = sorted({n.rsplit(".lora_", 1)[0] for n in names})
    base = load_base(case_dir / "model", dtype)
    for p in base.parameters():
        p.requires_grad_(False)
    mods = {}
    for pre in prefixes:
        mod = base.get_submodule(pre[len("base_model.model."):])
        mod.weight.requires_grad_(True)
        mods[pre] = mod
    loss = forward_backward(base, ids, f64=dtype == torch.float64)
    wgrads = {}
    for pre, mod in mods.items():
        g = mod.weight.grad.detach().clone()
        wgrads[pre] = g.t().contiguous() if isinstance(mod, Conv1D) else g  # Conv1D weight is (in, out)
    return loss.item(), wgrads, names


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    nb = torch.linalg.vector_norm(b).item()
    d = torch.linalg.vector_norm(a - b).item()
    if not math.isfinite(d):
        return math.inf
    return d / nb if nb > 0 else d


def compare_adapter(loss: float, grads: dict, ref_loss: float, ref: dict, tol: float) -> tuple[list, dict]:
    errors = []
    stats = {"loss_err": abs(loss - ref_loss) / abs(ref_loss) if ref_loss else abs(loss)}
    if not math.isfinite(loss) or stats["loss_err"] > tol:
        errors.append(f"loss {loss!r} vs reference {ref_loss!r} (rel err {stats['loss_err']:.2e})")
    missing = sorted(set(ref) - set(grads))
    extra = sorted(set(grads) - set(ref))
    if missing:
        errors.append(f"{len(missing)} gradient tensor(s) missing, e.g. {missing[0]}")
    if extra:
        errors.append(f"{len(extra)} unexpected tensor(s), e.g. {extra[0]}")
    worst, worst_name = 0.0, ""
    for k in sorted(set(ref) & set(grads)):
        g = grads[k]
        if tuple(g.shape) != tuple(ref[k].shape):
            errors.append(f"{k}: shape {tuple(g.shape)} != {tuple(ref[k].shape)}")
            continue
        if g.dtype != torch.float32:
            errors.append(f"{k}: dtype {g.dtype}, expected float32")
        e = rel_err(g, ref[k])
        if e > worst or not math.isfinite(e):
            worst, worst_name = e, k
        if not e <= tol:
            errors.append(f"{k}: rel err {e:.2e}")
    stats["grad_err"] = worst
    stats["worst"] = worst_name
    return errors, stats


def compare_fresh(loss: float, grads: dict, ref_loss: float, wgrads: dict, names: dict, lora: dict,
                  tol: float) -> tuple[list, dict]:
    errors = []
    stats = {"loss_err": abs(loss - ref_loss) / abs(ref_loss)}
    if not math.isfinite(loss) or stats["loss_err"] > tol:
        errors.append(f"loss {loss!r} vs base-model reference {ref_loss!r} (rel err {stats['loss_err']:.2e})")
    missing = sorted(set(names) - set(grads))
    extra = sorted(set(grads) - set(names))
    if missing:
        errors.append(f"{len(missing)} gradient tensor(s) missing, e.g. {missing[0]}")
    if extra:
        errors.append(f"{len(extra)} unexpected tensor(s), e.g. {extra[0]}")
    for k in sorted(set(names) & set(grads)):
        if tuple(grads[k].shape) != names[k]:
            errors.append(f"{k}: shape {tuple(grads[k].shape)} != {names[k]}")
        elif grads[k].dtype != torch.float32:
            errors.append(f"{k}: dtype {grads[k].dtype}, expected float32")
    if errors:
        return errors, {**stats, "grad_err": math.inf, "worst": ""}

    b_norm = math.sqrt(sum(torch.linalg.vector_norm(g.double()).item() ** 2
                           for k, g in grads.items() if ".lora_B." in k))
    a_norm = math.sqrt(sum(torch.linalg.vector_norm(g.double()).item() ** 2
                           for k, g in grads.items() if ".lora_A." in k))
    stats["A_norm_over_B_norm"] = a_norm / b_norm if b_norm > 0 else math.inf
    if b_norm == 0:
        errors.append("all lora_B gradients are zero")
    elif not a_norm <= 1e-6 * b_norm:
        errors.append(f"lora_A gradients should be 0 with B = 0; ||gA|| / ||gB|| = {a_norm / b_norm:.2e}")

    worst, worst_name = 0.0, ""
    for pre, W in wgrads.items():
        gB = grads[pre + ".lora_B.weight"].double()  # (out, r)
        W = W.double()  # (out, in)
        if torch.linalg.vector_norm(W).item() == 0:
            if torch.linalg.vector_norm(gB).item() != 0:
                errors.append(f"{pre}.lora_B: reference dL/dW is 0 but gradient is not")
            continue
        if torch.linalg.vector_norm(gB).item() == 0:
            errors.append(f"{pre}.lora_B: gradient is 0 but reference dL/dW is not")
            continue
        U, S, _ = torch.linalg.svd(W, full_matrices=False)
        Uk = U[:, S > S[0] * 1e-9]
        resid = gB - Uk @ (Uk.t() @ gB)
        e = (torch.linalg.vector_norm(resid) / torch.linalg.vector_norm(gB)).item()
        if e > worst:
            worst, worst_name = e, pre + ".lora_B.weight"
        if not e <= tol:
            errors.append(f"{pre}.lora_B: {e:.2e} of the gradient lies outside span(dL/dW) "
                          f"(rank {Uk.shape[1]} of {W.shape[0]})")
    stats["grad_err"] = worst
    stats["worst"] = worst_name
    return errors, stats


# --------------------------------------------------------------------------
# Running the CLI
# --------------------------------------------------------------------------


def cli_args(case: Case, out: Path) -> list[str]:
    a = ["grad", "--model", str(case.dir / "model")]
    if case.fresh:
        a += ["--lora-r", str(case.lora["r"]), "--lora-alpha", str(case.lora["lora_alpha"]),
              "--target-modules", ",".join(case.lora["target_modules"])]
    else:
        a += ["--adapter", str(case.dir / "adapter")]
    a += ["--tokens", str(case.dir / "tokens.json"), "--out", str(out)]
    return a


def run_cli(lemo: str, case: Case, timeout: float) -> tuple[float, dict, float]:
    out = case.dir / "lemo_grads.safetensors"
    out.unlink(missing_ok=True)
    cmd = shlex.split(lemo) + cli_args(case, out)
    t0 = time.time()
    p = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    dt = time.time() - t0
    (case.dir / "lemo_cmd.txt").write_text(shlex.join(cmd) + "\n")
    (case.dir / "lemo_stdout.txt").write_text(p.stdout)
    (case.dir / "lemo_stderr.txt").write_text(p.stderr)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"exit status {p.returncode}: " + " | ".join(tail))
    loss = None
    json_lines = 0
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and "loss" in obj:
                loss = float(obj["loss"])
                json_lines += 1
    if loss is None:
        raise RuntimeError("no JSON line with \"loss\" on stdout: " + p.stdout.strip()[-300:])
    if json_lines > 1:
        print(f"  note: case {case.idx}: {json_lines} JSON lines with loss on stdout; using the last",
              file=sys.stderr)
    if not out.exists():
        raise RuntimeError(f"--out file {out} was not written")
    return loss, load_file(str(out)), dt


# --------------------------------------------------------------------------
# Self-test: this script as a stand-in `lemo grad` (float32 transformers)
# --------------------------------------------------------------------------


def fake_lemo_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="check_cli.py --as-lemo")
    ap.add_argument("command", choices=["grad"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter")
    ap.add_argument("--lora-r", type=int)
    ap.add_argument("--lora-alpha", type=float)
    ap.add_argument("--target-modules")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    ids = torch.tensor(json.loads(Path(a.tokens).read_text())["input_ids"], dtype=torch.long)
    base = load_base(Path(a.model), torch.float32)
    if a.adapter:
        pm = PeftModel.from_pretrained(base, a.adapter, is_trainable=True)
    else:
        alpha = int(a.lora_alpha) if float(a.lora_alpha).is_integer() else a.lora_alpha
        torch.manual_seed(12345)  # PEFT default init: kaiming-uniform A, zero B
        pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=a.lora_r, lora_alpha=alpha,
                                             target_modules=a.target_modules.split(","), lora_dropout=0.0))
    pm.eval()
    loss = forward_backward(pm, ids, f64=False)
    save_file({k: v.contiguous() for k, v in sorted(lora_grads(pm).items())}, a.out, metadata={"format": "pt"})
    print("loading model... (log line that is not JSON)")
    print(json.dumps({"loss": loss.item()}))
    return 0


def negative_controls(cases: list[Case], tol: float) -> list[str]:
    """Corrupt the (passing) self-test outputs and make sure the comparison notices."""
    problems = []
    for case in cases:
        r = case.result
        if "grads" not in r:
            continue
        grads = r["grads"]
        k0 = sorted(grads)[0]
        kb = [k for k in sorted(grads) if ".lora_B." in k][-1]
        ka = [k for k in sorted(grads) if ".lora_A." in k][0]
        muts = {
            "loss*(1+3e-4)": (r["loss"] * (1 + 3e-4), grads),
            "drop tensor": (r["loss"], {k: v for k, v in grads.items() if k != k0}),
            "extra tensor": (r["loss"], {**grads, "base_model.model.bogus.lora_A.weight": grads[k0]}),
            "float16 tensor": (r["loss"], {**grads, k0: grads[k0].half()}),
        }
        if not case.fresh:
            muts["one tensor*(1+3e-4)"] = (r["loss"], {**grads, kb: grads[kb] * (1 + 3e-4)})
            muts["A transposed"] = (r["loss"], {**grads, ka: grads[ka].t().contiguous()})
            muts["scaling ignored (B grads / scaling)"] = (
                r["loss"], {k: (v / case.lora["lora_alpha"] * case.lora["r"] if ".lora_B." in k else v)
                            for k, v in grads.items()}) if case.lora["lora_alpha"] != case.lora["r"] else None
        else:
            muts["A grad non-zero"] = (r["loss"], {**grads, ka: torch.randn(grads[ka].shape) * 1e-3})
            muts["B grad random"] = (r["loss"], {**grads, kb: torch.randn(grads[kb].shape)})
        for label, m in muts.items():
            if m is None:
                continue
            errs, _ = r["compare"](m[0], m[1])
            if not errs:
                problems.append(f"case {case.idx}: corruption '{label}' was NOT detected")
    return problems


# --------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-lemo":
        return fake_lemo_main(sys.argv[2:])

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=20240601, help="random seed (default 20240601)")
    ap.add_argument("--cases", type=int, default=8, help="number of random cases (default 8)")
    ap.add_argument("--fresh", type=int, default=None,
                    help="how many of them run without --adapter (default: max(1, cases // 5) if cases >= 2)")
    ap.add_argument("--lemo", default="npx --no lemo",
                    help='command prefix for the CLI (default "npx --no lemo"; e.g. "node bin/lemo.js")')
    ap.add_argument("--tol", type=float, default=1e-4, help="max relative error (default 1e-4)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per CLI run (default 600)")
    ap.add_argument("--keep", type=Path, help="write the cases here and keep them (default: temp dir, removed)")
    ap.add_argument("--self-test", action="store_true",
                    help="use this script's own float32 transformers `grad` as the CLI, and check that "
                         "corrupted outputs are rejected")
    args = ap.parse_args()

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    n_fresh = args.fresh if args.fresh is not None else (max(1, args.cases // 5) if args.cases >= 2 else 0)
    n_fresh = min(n_fresh, args.cases)
    lemo = f"{shlex.quote(sys.executable)} {shlex.quote(str(THIS))} --as-lemo" if args.self_test else args.lemo

    tmp = None
    if args.keep:
        root = args.keep.resolve()
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="lemo-check-")
        root = Path(tmp.name)

    print(f"lemo command: {lemo}")
    print(f"seed {args.seed}, {args.cases} cases ({n_fresh} without --adapter), tol {args.tol:g}, dir {root}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"peft {__import__('peft').__version__}")
    cases = [random_case(i, args.seed, fresh=i >= args.cases - n_fresh) for i in range(args.cases)]

    rows = []
    failed = 0
    for case in cases:
        status, note = "PASS", ""
        ref32_loss_err = ref32_grad_err = float("nan")
        try:
            write_case(case, root, args.seed)
            ids = case.ids
            if case.fresh:
                ref_loss, wgrads, names = reference_fresh(case.dir, ids, case.lora, torch.float64)
                r32_loss, _, _ = reference_fresh(case.dir, ids, case.lora, torch.float32)
                ref32_loss_err = abs(r32_loss - ref_loss) / abs(ref_loss)

                def cmp(loss, grads, ref_loss=ref_loss, wgrads=wgrads, names=names, lora=case.lora):
                    return compare_fresh(loss, grads, ref_loss, wgrads, names, lora, args.tol)
            else:
                ref_loss, ref = reference_adapter(case.dir, ids, torch.float64)
                r32_loss, r32 = reference_adapter(case.dir, ids, torch.float32)
                ref32_loss_err = abs(r32_loss - ref_loss) / abs(ref_loss)
                ref32_grad_err = max(rel_err(r32[k], ref[k]) for k in ref)

                def cmp(loss, grads, ref_loss=ref_loss, ref=ref):
                    return compare_adapter(loss, grads, ref_loss, ref, args.tol)

            loss, grads, dt = run_cli(lemo, case, args.timeout)
            errors, stats = cmp(loss, grads)
            case.result = {"loss": loss, "grads": grads, "compare": cmp}
            if errors:
                status = "FAIL"
                note = errors[0] + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
                (case.dir / "errors.txt").write_text("\n".join(errors) + "\n")
        except subprocess.TimeoutExpired:
            status, note, stats, dt = "FAIL", f"timed out after {args.timeout:g}s", {}, float("nan")
        except Exception as e:  # noqa: BLE001
            status, note, stats, dt = "FAIL", f"{type(e).__name__}: {e}", {}, float("nan")
            if os.environ.get("CHECK_CLI_DEBUG"):
                traceback.print_exc()
        if status != "PASS":
            failed += 1
        rows.append((case, status, stats, dt, ref32_loss_err, ref32_grad_err, note))
        print(f"[{case.idx:2d}] {status} {case.desc}" + (f"\n      {note}" if note else ""), flush=True)

    # ---- table ----
    print()
    hdr = f"{'#':>2}  {'arch':5} {'mode':7} {'loss err':>9} {'grad err':>9} {'f32 ref loss':>12} " \
          f"{'f32 ref grad':>12} {'time s':>7}  result"
    print(hdr)
    print("-" * len(hdr))
    max_loss = max_grad = 0.0
    for case, status, stats, dt, r32l, r32g, note in rows:
        le, ge = stats.get("loss_err", float("nan")), stats.get("grad_err", float("nan"))
        if math.isfinite(le):
            max_loss = max(max_loss, le)
        if math.isfinite(ge):
            max_grad = max(max_grad, ge)
        mode = "fresh" if case.fresh else "adapter"
        print(f"{case.idx:2d}  {case.arch:5} {mode:7} {le:9.2e} {ge:9.2e} {r32l:12.2e} {r32g:12.2e} {dt:7.2f}  "
              f"{status}")
    print("-" * len(hdr))
    print(f"max loss rel err {max_loss:.2e}, max grad rel err {max_grad:.2e} (fresh cases: span residual), "
          f"tol {args.tol:g}")
    print("(errors are vs a true float64 transformers+PEFT reference; 'f32 ref' columns show how far "
          "transformers' own float32 result is from it)")

    if args.self_test:
        problems = negative_controls(cases, args.tol)
        n_ctrl = sum(1 for c in cases if "grads" in c.result)
        if problems:
            failed += len(problems)
            for p in problems:
                print("SELF-TEST:", p)
        else:
            print(f"self-test: every corrupted output was rejected ({n_ctrl} cases)")

    print(f"\n{len(cases) - sum(1 for r in rows if r[1] != 'PASS')}/{len(cases)} cases passed")
    if tmp is not None:
        tmp.cleanup()
    elif args.keep:
        print(f"cases kept in {root}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
