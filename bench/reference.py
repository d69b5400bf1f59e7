"""reference.py: GPT-S and BERT-S of BENCH.md in PyTorch (CPU, eager), timed per training step.

The same model as lmgraph's: pre-LayerNorm blocks with a fused QKV projection, GELU (tanh)
MLP, learned positions, tied output embedding, GPT-2 init (N(0, 0.02) weights, zero biases,
residual projections scaled by 1/sqrt(2 layers)), AdamW (betas 0.9/0.95, weight decay 0.1),
gradient clipping at 1.0, no dropout, random tokens. BERT-S is bidirectional with a masked-LM
loss on 15% of positions. Prints one line: the median ms/step by the wall clock and by this
process's CPU time over the cores (what an idle machine would show).
"""
import argparse
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, h, ff, layers):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc, self.out = nn.Linear(c, ff), nn.Linear(ff, c)
        for m in (self.qkv, self.proj, self.fc, self.out):
            nn.init.zeros_(m.bias)
        nn.init.normal_(self.qkv.weight, std=0.02)
        nn.init.normal_(self.fc.weight, std=0.02)
        nn.init.normal_(self.proj.weight, std=0.02 / math.sqrt(2 * layers))
        nn.init.normal_(self.out.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, x, causal):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.h, c // self.h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Model(nn.Module):
    def __init__(self, layers=4, heads=4, d=256, ff=1024, vocab=4096, seq=128):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        nn.init.normal_(self.wte.weight, std=0.02)  # N(0, 1) would make values denormal
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d, heads, ff, layers) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, ids, causal):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for blk in self.blocks:
            x = blk(x, causal)
        return self.ln(x) @ self.wte.weight.t()  # tied output embedding


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["gpt", "bert"], default="gpt")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, T, V = 8, 128, 4096
    causal = a.model == "gpt"
    m = Model()
    decay = [p for p in m.parameters() if p.dim() >= 2]
    rest = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    times, cpu = [], []
    for i in range(a.warmup + a.steps):
        ids = torch.randint(0, V, (B, T + 1))
        t0, c0 = time.perf_counter(), time.process_time()
        if causal:
            x, y = ids[:, :-1], ids[:, 1:]
        else:  # 15% masked: 80% mask token, 10% random, 10% kept; loss there only
            x, y = ids[:, :-1].clone(), ids[:, :-1].clone()
            sel = torch.rand(B, T) < 0.15
            r = torch.rand(B, T)
            x[sel & (r < 0.8)] = V - 1
            rnd = sel & (r >= 0.8) & (r < 0.9)
            x[rnd] = torch.randint(0, V, (int(rnd.sum()),))
            y[~sel] = -100
        loss = F.cross_entropy(m(x, causal).view(-1, V), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3 / os.cpu_count())
    n = sum(p.numel() for p in m.parameters())
    print(f"pytorch {torch.__version__} {a.model}: {n} parameters, {torch.get_num_threads()} "
          f"threads, median {statistics.median(times):.1f} ms/step "
          f"(min {min(times):.1f}, max {max(times):.1f}), CPU time / {os.cpu_count()} cores: "
          f"median {statistics.median(cpu):.1f} ms/step, loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
