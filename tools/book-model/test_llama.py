"""CPU checks of llama.py (plain asserts): python3 tools/book-model/test_llama.py

1. forward_train_eliminating (mask-based, batched) == forward_eliminating (gather-based reference)
   for several keep ratios / layer sets / lengths (incl. T not a multiple of the block), fp32.
2. kept_tokens == keep_top (ties broken by the lower block index); a tensor keep == a float keep.
3. Dense case == transformers' LlamaForCausalLM (save_hf fp32 + from_pretrained fp32).
4. Gradients: finite; eliminated rows get no attention-path gradient in a sparse layer.
"""
import math
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama import (Config, Llama, block_scores, forward_eliminating, forward_train_eliminating,  # noqa: E402
                   keep_top, kept_tokens, save_hf)

torch.manual_seed(0)
torch.set_num_threads(2)


def rel(a, b):
    return float((a - b).detach().norm() / b.detach().norm())


def make_model():
    c = Config(vocab=512, hidden=64, intermediate=128, layers=5, heads=4, kv_heads=2, ctx=512)
    m = Llama(c).float().eval()
    with torch.no_grad():                       # sharper attention than the 0.02 init, so the choice matters
        for layer in m.model.layers:
            layer.self_attn.q_proj.weight.normal_(0, 0.15)
            layer.self_attn.k_proj.weight.normal_(0, 0.15)
    return m


def test_matches_reference(m):
    worst = 0.0
    for T, block in [(256, 32), (250, 32), (256, 16)]:
        ids = torch.randint(0, m.c.vocab, (3, T))
        dense = m(ids)
        for layers, keep in [([1, 2, 3], 0.4), ([1, 2, 3], 0.6), ([0, 1, 2, 3, 4], 0.3), ([2], 0.5), ([1, 3], 1.0)]:
            policy = [keep if l in layers else None for l in range(m.c.layers)]
            ref = forward_eliminating(m, ids, policy, block)
            with torch.no_grad():
                got = forward_train_eliminating(m, ids, layers, keep, block)
                got_t = forward_train_eliminating(m, ids, layers, torch.tensor(keep), block)
            r, rt = rel(got, ref), rel(got_t, ref)
            worst = max(worst, r, rt)
            assert r < 1e-5 and rt < 1e-5, (T, block, layers, keep, r, rt)
            if keep < 1.0:
                assert rel(got, dense) > 1e-3, "elimination had no effect"
        with torch.no_grad():
            assert rel(forward_train_eliminating(m, ids, [], 0.4, block), dense) < 1e-6
    # per-layer keep dict
    ids = torch.randint(0, m.c.vocab, (2, 256))
    ref = forward_eliminating(m, ids, [None, 0.3, 0.7, None, 0.5], 32)
    with torch.no_grad():
        got = forward_train_eliminating(m, ids, [1, 2, 4], {1: 0.3, 2: 0.7, 4: 0.5}, 32)
    worst = max(worst, rel(got, ref))
    assert rel(got, ref) < 1e-5
    print(f"ok  train-eliminating vs gather reference: max rel diff {worst:.2e}")


def test_kept_tokens():
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        nb = int(torch.randint(1, 20, (1,), generator=g))
        sc = torch.randint(0, 4, (4, nb), generator=g).float()          # many ties
        keep = float(torch.rand(1, generator=g))
        T = nb * 8 - int(torch.randint(0, 8, (1,), generator=g))
        kt = kept_tokens(sc, keep, 8, T)
        kt2 = kept_tokens(sc, torch.tensor(keep), 8, T)
        assert torch.equal(kt, kt2)
        for b in range(4):
            want = torch.zeros(nb * 8, dtype=torch.bool)
            for j in keep_top(sc[b], keep):
                want[j * 8:(j + 1) * 8] = True
            assert torch.equal(kt[b], want[:T]), (sc[b], keep)
    print("ok  kept_tokens == keep_top (ties -> lower index), tensor keep == float keep")


def test_hf(m):
    from transformers import LlamaForCausalLM
    with tempfile.TemporaryDirectory() as d:
        save_hf(m, d, dtype=torch.float32)
        hf = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        ids = torch.randint(0, m.c.vocab, (2, 256))
        with torch.no_grad():
            a, b, t = m(ids), hf(input_ids=ids).logits, forward_train_eliminating(m, ids, [], 0.4, 32)
        r, rt = rel(a, b), rel(t, b)
        assert r < 1e-5 and rt < 1e-5, (r, rt)
    print(f"ok  dense vs transformers LlamaForCausalLM: rel diff {r:.2e} (forward), {rt:.2e} (train fwd, no sparse layer)")


def test_grad(m):
    m.train()
    ids = torch.randint(0, m.c.vocab, (2, 256))
    m.zero_grad()
    lg = forward_train_eliminating(m, ids, [1, 2, 3], 0.4, 32)
    torch.nn.functional.cross_entropy(lg[:, :-1].reshape(-1, lg.size(-1)), ids[:, 1:].reshape(-1)).backward()
    for n, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
    # layer 3's o_proj gets gradient only from kept rows: compare with the gradient computed on kept rows.
    att = m.model.layers[3].self_attn
    captured = {}

    def hook(mod, inp, out):
        captured["in"] = inp[0]
        inp[0].retain_grad()
    h = att.o_proj.register_forward_hook(hook)
    m.zero_grad()
    lg = forward_train_eliminating(m, ids, [1, 2, 3], 0.4, 32)
    lg.sum().backward()
    h.remove()
    x = captured["in"]
    rows_zero = (x.detach().abs().sum(-1) == 0)                     # eliminated rows: zero attention output
    frac = float(rows_zero.float().mean())
    assert 0.45 < frac < 0.7, frac                                   # 8 blocks, keep ceil(3.2)=4 -> 50% eliminated
    m.eval()
    print(f"ok  gradients finite; {frac:.0%} of rows eliminated in layer 3 at keep 0.4")


if __name__ == "__main__":
    m = make_model()
    test_kept_tokens()
    test_matches_reference(m)
    test_hf(m)
    test_grad(m)
    print("all passed")
