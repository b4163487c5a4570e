"""Which predictor shape can learn the oracle's block ranking? Trains candidates in torch on
the default model's layer inputs (ctx 1024) and prints held-out recall at keep 40%, with two
baselines (the first blocks; the previous layer's oracle) and how flat the block scores are.
Usage: python3 tools/predictors/explore.py [--steps 300] [--candidates flat-scores,pool-scores] [--estimators]"""
import argparse, json, math, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
from transformers import AutoModelForCausalLM
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv
from tokenizers import Tokenizer

p = argparse.ArgumentParser()
p.add_argument('--steps', type=int, default=300)
p.add_argument('--ctx', type=int, default=1024)
p.add_argument('--block', type=int, default=32)
p.add_argument('--layers', default='1,2,3,4,5')
p.add_argument('--estimators', action='store_true', help="also the model's own q/k on pooled blocks as untrained estimators")
p.add_argument('--candidates', default='flat-scores,pool-scores', help='comma-separated: flat-tiles, flat-scores, pool-tiles, pool-scores, pool-both-scores')
args = p.parse_args()
torch.manual_seed(0)
torch.set_num_threads(2)
M = 'public/models/lemo-tiny'
model = AutoModelForCausalLM.from_pretrained(M, attn_implementation='eager').eval()
tok = Tokenizer.from_file(f'{M}/tokenizer.json')
def docs(path):
    return [tok.encode(json.loads(l)['text']).ids for l in open(path)]
def wins(ds, T):
    return [d[s:s + T] for d in ds for s in range(0, len(d) - T + 1, T)]
train = wins(docs('public/data/sotu-long/train.jsonl'), args.ctx)
held = wins(docs('public/data/sotu-long/heldout.jsonl'), args.ctx)[:8]
cfg = model.config
H, KV, D, b = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads, args.block
layers = [int(x) for x in args.layers.split(',')]

@torch.no_grad()
def layer_data(ids):
    ids = torch.tensor([ids])
    out = model(ids, output_hidden_states=True)
    T = ids.shape[1]
    pos = torch.arange(T)[None]
    cos, sin = model.model.rotary_emb(out.hidden_states[0], pos)
    res = {}
    for l in layers:
        layer = model.model.layers[l]
        x = layer.input_layernorm(out.hidden_states[l])
        a = layer.self_attn
        q = a.q_proj(x).view(1, T, H, D).transpose(1, 2)
        k = a.k_proj(x).view(1, T, KV, D).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k = repeat_kv(k, H // KV)
        s = F.relu(q @ k.transpose(-1, -2) / math.sqrt(D)).mean(1)[0]  # T x T
        s = s * torch.tril(torch.ones(T, T), -1)
        nb = T // b
        tiles = s.view(nb, b, nb, b).amax(dim=(1, 3))  # m, n
        tiles = torch.tril(tiles)
        res[l] = (x[0], tiles, q[0], k[0])
    return res

def col_scores(tiles):
    low = torch.tril(tiles)
    return low.sum(0) + torch.tril(tiles, -1).sum(1)  # column n: m>=n ; row n: m<n

def topk(scores, keep=0.4):
    k = math.ceil(keep * scores.numel())
    return set(torch.topk(scores, k).indices.tolist())

class Flat(nn.Module):  # LEMO.md 3: flattened b x D slices, shared over slices
    def __init__(s, r1=32, r2=128, E=32):
        super().__init__()
        s.q = nn.Sequential(nn.Linear(b * D, r1), nn.ReLU(), nn.Linear(r1, r2), nn.ReLU(), nn.Linear(r2, E))
        s.k = nn.Sequential(nn.Linear(b * D, r1), nn.ReLU(), nn.Linear(r1, r2), nn.ReLU(), nn.Linear(r2, E))
    def forward(s, x):
        T = x.shape[0]; nb = T // b
        f = x.view(nb, b, H, D).transpose(1, 2).reshape(nb, H, b * D)
        return s.q(f).sum(1), s.k(f).sum(1)

class Pool(nn.Module):  # per-token MLP, max-pooled over the block's tokens
    def __init__(s, r1=64, E=32, mode='max'):
        super().__init__()
        s.mode = mode
        s.q = nn.Sequential(nn.Linear(H * D, r1), nn.ReLU(), nn.Linear(r1, r1), nn.ReLU())
        s.k = nn.Sequential(nn.Linear(H * D, r1), nn.ReLU(), nn.Linear(r1, r1), nn.ReLU())
        s.qo = nn.Linear(r1 * (2 if mode == 'both' else 1), E)
        s.ko = nn.Linear(r1 * (2 if mode == 'both' else 1), E)
    def pool(s, t, nb):
        t = t.view(nb, b, -1)
        if s.mode == 'max': return t.amax(1)
        if s.mode == 'mean': return t.mean(1)
        return torch.cat([t.amax(1), t.mean(1)], -1)
    def forward(s, x):
        nb = x.shape[0] // b
        return s.qo(s.pool(s.q(x), nb)), s.ko(s.pool(s.k(x), nb))

def standard(c):
    return (c - c.mean()) / (c.std() + 1e-6)

def run(name, make, objective='tiles'):
    nets = {l: make() for l in layers}
    opts = {l: torch.optim.AdamW(nets[l].parameters(), lr=1e-3, weight_decay=0) for l in layers}
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    for step in range(args.steps):
        w = train[torch.randint(len(train), (1,), generator=g).item()]
        data = layer_data(w)
        for l in layers:
            x, tiles = data[l][:2]
            mask = torch.tril(torch.ones_like(tiles))
            y = tiles / (tiles * mask).sum() * mask.sum()
            eq, ek = nets[l](x)
            pred = eq @ ek.T
            if objective == 'tiles':
                loss = (F.smooth_l1_loss(pred, y, reduction='none') * mask).sum() / mask.sum()
            else:
                loss = F.smooth_l1_loss(standard(col_scores(torch.tril(pred))), standard(col_scores(tiles)))
            opts[l].zero_grad(); loss.backward(); opts[l].step()
    rec = {l: [] for l in layers}
    with torch.no_grad():
        for w in held:
            data = layer_data(w)
            for l in layers:
                x, tiles = data[l][:2]
                eq, ek = nets[l](x)
                o, pr = topk(col_scores(tiles)), topk(col_scores(torch.tril(eq @ ek.T)))
                rec[l].append(len(o & pr) / len(o))
    r = {l: sum(v) / len(v) for l, v in rec.items()}
    print(f'{name:10s} steps {args.steps} recall ' + ' '.join(f'{r[l]:.3f}' for l in layers) + f'  mean {sum(r.values()) / len(r):.3f}  ({time.time() - t0:.0f} s)', flush=True)

# Baselines: the position alone (earliest blocks), and the oracle of the previous layer's input.
rec_pos = []
for w in held:
    data = layer_data(w)
    for l in layers:
        nb = args.ctx // b
        o = topk(col_scores(data[l][1]))
        rec_pos.append(len(o & set(range(math.ceil(0.4 * nb)))) / len(o))
print(f'first-blocks baseline recall {sum(rec_pos) / len(rec_pos):.3f}', flush=True)
# How flat are the column scores (coefficient of variation), and how alike are neighbouring layers' choices?
cv, nb_rec = [], []
for w in held[:4]:
    data = layer_data(w)
    for i, l in enumerate(layers):
        c = col_scores(data[l][1])
        cv.append((c.std() / c.mean()).item())
        if i: nb_rec.append(len(topk(c) & topk(col_scores(data[layers[i - 1]][1]))) / len(topk(c)))
if cv: print(f'column-score CV {sum(cv) / len(cv):.3f}; previous layer\'s oracle as predictor: recall {sum(nb_rec) / max(1, len(nb_rec)):.3f}', flush=True)

if args.estimators:
    # Upper bounds for anything that sees one block summary per side: the model's own roped q and
    # k, averaged over each block, standing in for the tokens (no training). If even these miss the
    # oracle's choice, the oracle's max over a tile's token pairs is what cannot be summarised.
    T = args.ctx
    nb = T // b
    rec = {}
    for w in held[:6]:
        data = layer_data(w)
        for l in layers:
            q, k = data[l][2], data[l][3]
            o = topk(col_scores(data[l][1]))
            qm, km = q.view(H, nb, b, D).mean(2), k.view(H, nb, b, D).mean(2)
            est = {
                'block-mean q . block-mean k': F.relu(qm @ km.transpose(-1, -2) / math.sqrt(D)).mean(0),
                'block-mean q . every k (max over the key block)': F.relu(qm @ k.transpose(-1, -2) / math.sqrt(D)).view(H, nb, nb, b).amax(3).mean(0),
                'every q . block-mean k (max over the query block)': F.relu(q @ km.transpose(-1, -2) / math.sqrt(D)).view(H, nb, b, nb).amax(2).mean(0),
            }
            for name, e in est.items():
                rec.setdefault(name, []).append(len(o & topk(col_scores(torch.tril(e)))) / len(o))
    for name, v in rec.items():
        print(f'estimator {name}: recall {sum(v) / len(v):.3f}', flush=True)

CANDIDATES = {
    'flat-tiles': (lambda: Flat(), 'tiles'), 'flat-scores': (lambda: Flat(), 'scores'),
    'pool-tiles': (lambda: Pool(mode='max'), 'tiles'), 'pool-scores': (lambda: Pool(mode='max'), 'scores'),
    'pool-both-scores': (lambda: Pool(mode='both'), 'scores'),
}
for name in filter(None, args.candidates.split(',')):
    make, objective = CANDIDATES[name]
    run(name, make, objective)
