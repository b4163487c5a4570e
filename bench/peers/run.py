"""npm run bench:peers: the engine beside PyTorch + PEFT, TensorFlow.js and the machine's
matrix-multiply ceiling, on the same model (public/models/lemo-tiny), LoRA (r 8, alpha 16 on
q/k/v/o), token windows and RoPE scale (ctx/1024), in one run.

  python3 bench/peers/run.py [--ctx 1024,2048,4096] [--quick] [--out bench/peers/out]

Writes OUT/results.jsonl (every measurement), OUT/table.md and OUT/peers.png.
--quick: contexts 256,512, fewer steps, TF.js WebGPU skipped (checks the scripts end to end).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MODEL = os.path.join(ROOT, 'public', 'models', 'lemo-tiny')
PREDICTORS = os.path.join(MODEL, 'predictors.safetensors')


def log(msg):
    print(f'[{datetime.datetime.now().strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def json_lines(cmd, timeout=None):
    """Runs cmd (stderr passed through); returns the JSON objects it printed, one per line."""
    log('$ ' + ' '.join(cmd))
    try:
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f'  timed out after {timeout} s')
        return [{'error': f'timed out after {timeout} s', 'command': ' '.join(cmd)}]
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith('{'):
            out.append(json.loads(line))
    if p.returncode != 0:
        out.append({'error': f'exit code {p.returncode}', 'command': ' '.join(cmd)})
    for o in out:
        o.setdefault('command', ' '.join(cmd))
    return out


def useful_flops(cfg, T, r=8):
    """Useful floating-point operations of one dense LoRA step, batch 1, T tokens (a multiply-add is 2).
    Frozen linear maps (in x out): forward 2*T*in*out and the input gradient 2*T*in*out (no weight
    gradient). LoRA factors on q/k/v/o: forward, input and weight gradients, 6*T*r*(in+out).
    Causal attention per layer, counting the lower triangle only: q.k^T and p.v forward
    2*(2*T*T*qd)/2 = 2*T^2*qd, backward twice that. LM head like a frozen linear map. Norms,
    activations, softmax, loss and the optimizer are left out."""
    h, H, KV, D, I, L, V = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim'], cfg['intermediate_size'], cfg['num_hidden_layers'], cfg['vocab_size']
    qd, kvd = H * D, KV * D
    linears = [(h, qd), (h, kvd), (h, kvd), (qd, h), (h, I), (h, I), (I, h)]
    lora = [(h, qd), (h, kvd), (h, kvd), (qd, h)]
    per_layer = sum(4 * T * i * o for i, o in linears) + sum(6 * T * r * (i + o) for i, o in lora) + 6 * T * T * qd
    return L * per_layer + 4 * T * h * V


def lemo_available():
    if not os.path.exists(PREDICTORS):
        return False, f'{os.path.relpath(PREDICTORS, ROOT)} does not exist'
    h = subprocess.run(['npx', 'lemo', 'bench', '--help'], cwd=ROOT, capture_output=True, text=True).stdout
    if 'lemo' not in h.split('--modes', 1)[-1].split('\n')[0]:
        return False, '`lemo bench --help` does not list the lemo mode'
    return True, ''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ctx', default='1024,2048,4096')
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'peers', 'out'))
    ap.add_argument('--skip', default='', help='comma-separated parts to leave out: torch,node,browser,webgpu')
    ap.add_argument('--port', default=os.environ.get('E2E_PORT', '5183'))
    ap.add_argument('--tfjs-cap-s', type=int, default=600, help='a TF.js run with no finished step after this many seconds is stopped and reported as such')
    a = ap.parse_args()
    ctxs = [256, 512] if a.quick and a.ctx == '1024,2048,4096' else [int(c) for c in a.ctx.split(',')]
    steps = 2 if a.quick else 3
    skip = set(filter(None, a.skip.split(',')))
    os.makedirs(a.out, exist_ok=True)
    windows = os.path.join(a.out, 'windows.json')
    results = []
    t_start = time.time()
    meta = {
        'kind': 'meta', 'date': datetime.datetime.utcnow().isoformat(timespec='seconds') + 'Z', 'ctxs': ctxs, 'steps': steps,
        'uptime_before': subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip(),
        'cpu': next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor()),
        'cores': os.cpu_count(), 'node': subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip(),
        'chromium': subprocess.run(['/usr/bin/chromium', '--version'], capture_output=True, text=True).stdout.strip(),
        'python': platform.python_version(),
    }
    import torch, transformers, peft  # noqa: E401 (versions only)
    meta.update(torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__)
    lemo_ok, lemo_why = lemo_available()
    meta['lemo'] = 'included' if lemo_ok else f'skipped: {lemo_why}'
    log(f'lemo mode: {meta["lemo"]}')

    subprocess.run(['npx', 'tsx', 'bench/peers/windows.ts', ','.join(map(str, ctxs)), windows], cwd=ROOT, check=True)
    wins = {w['ctx']: w for w in json.load(open(windows))['windows']}

    # Ceilings first (each provider's matmul rate, 1024^3).
    results += [{'kind': 'matmul', **r} for r in json_lines([sys.executable, 'bench/peers/torch_peer.py', 'matmul'])]
    results += [{'kind': 'matmul', **r} for r in json_lines(['npx', 'tsx', 'bench/peers/node-matmul.ts', '1024', '5', '2'])]

    if 'torch' not in skip:
        for ctx in ctxs:
            for ckpt in ([], ['--ckpt']):
                results += [{'kind': 'step', **r} for r in json_lines([sys.executable, 'bench/peers/torch_peer.py', 'step', '--windows', windows, '--ctx', str(ctx), '--steps', str(steps), *ckpt], timeout=1800)]

    if 'node' not in skip:
        modes = 'dense,oracle' + (',lemo' if lemo_ok else '')
        for backend in ('node', 'wasm'):
            for ctx in ctxs:
                scale = ['--rope-scale', str(ctx / 1024)] if ctx > 1024 else []
                for r in json_lines(['npx', 'lemo', 'bench', '--backend', backend, '--threads', '2', '--ctx', str(ctx), '--steps', str(steps), '--modes', modes, '--json', *scale], timeout=1800):
                    results.append({'kind': 'step', 'peer': 'engine', 'runtime': f'Node {"onnxruntime-node CPU" if backend == "node" else "onnxruntime-web WASM"}', **r})

    if 'browser' not in skip:
        tfjs = 'wasm' if ('webgpu' in skip or a.quick) else 'wasm,webgpu'
        cmd = ['npx', 'tsx', 'bench/peers/browser.ts', '--windows', windows, '--ctx', ','.join(map(str, ctxs)), '--steps', str(steps),
               '--tfjs', tfjs, '--webgpu-ctx', str(min(ctxs)), '--engine', 'dense,oracle' + (',lemo' if lemo_ok else ''), '--engine-steps', str(steps),
               '--cap-s', str(a.tfjs_cap_s), '--port', a.port]
        results += json_lines(cmd, timeout=5400)

    meta['uptime_after'] = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    meta['wall_s'] = round(time.time() - t_start)
    results.insert(0, meta)
    with open(os.path.join(a.out, 'results.jsonl'), 'w') as f:
        for r in results:
            f.write(json.dumps({k: v for k, v in r.items() if k != 'ids'}) + '\n')
    subprocess.run([sys.executable, 'bench/peers/report.py', os.path.join(a.out, 'results.jsonl'), a.out], cwd=ROOT, check=True)


if __name__ == '__main__':
    main()
