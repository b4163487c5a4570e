"""PyTorch + PEFT on the CPU beside the engine: one (ctx, checkpointing) configuration per
process, so that the peak resident set belongs to that configuration alone.

  python3 bench/peers/torch_peer.py step --windows W.json --ctx 1024 [--ckpt] [--steps 4]
  python3 bench/peers/torch_peer.py matmul [--n 1024]

step: the default model (transformers, its default attention, SDPA), linear RoPE scale ctx/1024,
PEFT LoRA r 8, alpha 16, dropout 0 on q/k/v/o, AdamW lr 1e-3, batch 1 on the window of W.json;
torch.set_num_threads(2). Prints one JSON line: the loss before the first update, the step times
(forward + backward + optimizer step), and peak memory as the process's peak resident set
(getrusage ru_maxrss) minus the resident set measured after importing torch, transformers and
peft and before loading the model, i.e. the model, adapter, optimizer state, activations and the
allocator's slack together.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import psutil
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MODEL = os.path.join(ROOT, 'public', 'models', 'lemo-tiny')


def rss():
    return psutil.Process().memory_info().rss


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def step_cmd(a):
    from transformers import AutoConfig, AutoModelForCausalLM
    from peft import LoraConfig, get_peft_model

    torch.set_num_threads(a.threads)
    win = next(w for w in json.load(open(a.windows))['windows'] if w['ctx'] == a.ctx)
    base_rss = rss()
    cfg = AutoConfig.from_pretrained(MODEL)
    if win['ropeScale'] != 1:
        cfg.rope_parameters = {'rope_type': 'linear', 'factor': float(win['ropeScale']), 'rope_theta': cfg.rope_parameters['rope_theta']}
        cfg.max_position_embeddings = int(cfg.max_position_embeddings * win['ropeScale'])
    model = AutoModelForCausalLM.from_pretrained(MODEL, config=cfg, dtype=torch.float32)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj']))
    if a.ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={'use_reentrant': False})
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    ids = torch.tensor([win['ids']], dtype=torch.long)
    times, losses = [], []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - t0) * 1000)
        losses.append(loss.item())
    later = times[1:] if len(times) > 1 else times
    print(json.dumps({
        'peer': 'torch', 'mode': 'dense+ckpt' if a.ckpt else 'dense', 'ctx': a.ctx, 'threads': a.threads,
        'attention': model.config._attn_implementation,
        'loss': losses[0], 'engineLoss': win['engineLoss'], 'lossRelErr': abs(losses[0] - win['engineLoss']) / abs(win['engineLoss']),
        'stepMs': times, 'medianStepMs': statistics.median(later),
        'peakBytes': peak_rss() - base_rss, 'peakMeasure': 'peak RSS (ru_maxrss) minus RSS before loading the model',
    }))


def matmul_cmd(a):
    torch.set_num_threads(a.threads)
    n = a.n
    x, y = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        x @ y
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        x @ y
        times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    print(json.dumps({'provider': 'torch CPU', 'threads': a.threads, 'n': n, 'ms': s * 1000, 'gflops': 2 * n ** 3 / s / 1e9}))


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest='cmd', required=True)
s = sub.add_parser('step')
s.add_argument('--windows', required=True)
s.add_argument('--ctx', type=int, required=True)
s.add_argument('--ckpt', action='store_true')
s.add_argument('--steps', type=int, default=4)
s.add_argument('--threads', type=int, default=2)
m = sub.add_parser('matmul')
m.add_argument('--n', type=int, default=1024)
m.add_argument('--reps', type=int, default=10)
m.add_argument('--threads', type=int, default=2)
a = p.parse_args()
step_cmd(a) if a.cmd == 'step' else matmul_cmd(a)
