"""The wm dynamics model written in PyTorch: the peer `wm bench dynamics` and `wm bench
imagine` compare the C++ implementation with. Same sequence layout (K frame tokens, then one
action token per step), pre-LayerNorm GPT blocks with causal scaled_dot_product_attention,
GELU MLP, token / reward / termination heads, loss, AdamW parameter groups, and the same
KV-cached imagination in both decoding modes: autoregressive (action token, then K sampled
tokens, each fed back) and parallel (frame t and action t in one pass, then K learned frame
queries against the cache, all K tokens sampled at once).

  dynamics_reference.py train   ... -> {"train_tokens_per_s": ...}
  dynamics_reference.py imagine ... [--decoding ar|parallel] [--precision fp32|bf16]
                                    [--sampler multinomial|inverse_cdf]
                                -> {"imagine_steps_per_s": ..., "peak_rss_mb": ...}
"""
import argparse
import json
import math
import re
import resource
import time

import torch
import torch.nn.functional as F
from torch import nn


class Rotary:
    """Rotary position embedding, half-split form, as dynamics/rotary_embedding.cpp."""

    def __init__(self, head_dim, positions, base=10000.0):
        inverse = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = torch.outer(torch.arange(positions, dtype=torch.float64), inverse)
        both = torch.cat([angles, angles], 1)
        self.cos, self.sin = both.cos().float(), both.sin().float()

    def __call__(self, x, first):
        t = x.shape[2]
        return self.at(x, torch.arange(first, first + t))

    def at(self, x, positions):
        """x [B, heads, N, head_dim] at the given positions [N]."""
        half = x.shape[3] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * self.cos[positions].to(x.dtype) + rotated * self.sin[positions].to(x.dtype)


class Block(nn.Module):
    def __init__(self, width, heads, rotary=None, kv_heads=0):
        super().__init__()
        self.rotary = rotary
        self.heads, self.kv_heads = heads, kv_heads or heads
        head_dim = width // heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, width + 2 * self.kv_heads * head_dim), nn.Linear(width, width)
        self.fc, self.fc_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def attend(self, x, cache, layer):
        b, t, c = x.shape
        d, kv = c // self.heads, self.kv_heads
        q, k, v = self.qkv(x).split([c, kv * d, kv * d], -1)
        q = q.view(b, t, self.heads, d).transpose(1, 2)
        k, v = k.view(b, t, kv, d).transpose(1, 2), v.view(b, t, kv, d).transpose(1, 2)
        gqa = kv != self.heads
        if self.rotary is not None:
            first = 0 if cache is None else cache["length"]
            q, k = self.rotary(q, first), self.rotary(k, first)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            keys, values, length = cache["k"][layer], cache["v"][layer], cache["length"]
            keys[:, :, length:length + t] = k
            values[:, :, length:length + t] = v
            keys, values = keys[:, :, :length + t], values[:, :, :length + t]
            if t == 1:
                y = F.scaled_dot_product_attention(q, keys, values, enable_gqa=gqa)
            elif length == 0:
                y = F.scaled_dot_product_attention(q, keys, values, is_causal=True, enable_gqa=gqa)
            else:
                mask = torch.arange(length + t)[None, :] <= torch.arange(length, length + t)[:, None]
                y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=gqa)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x, cache=None, layer=0):
        x = x + self.attend(self.ln1(x), cache, layer)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x))))

    def forward_with_queries(self, x, queries, positions, visible):
        """Training-time parallel decoding: the whole sequence x causally, and frame queries
        at `positions` that read x's keys and values where `visible` [N, T] allows."""
        b, t, c = x.shape
        d, kv = c // self.heads, self.kv_heads
        q, k, v = self.qkv(self.ln1(x)).split([c, kv * d, kv * d], -1)
        q = q.view(b, t, self.heads, d).transpose(1, 2)
        k, v = k.view(b, t, kv, d).transpose(1, 2), v.view(b, t, kv, d).transpose(1, 2)
        n = queries.shape[1]
        qq = F.linear(self.ln1(queries), self.qkv.weight[:c], self.qkv.bias[:c]).view(b, n, self.heads, d).transpose(1, 2)
        if self.rotary is not None:
            q, k = self.rotary(q, 0), self.rotary(k, 0)
            qq = self.rotary.at(qq, positions)
        gqa = kv != self.heads
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        yq = F.scaled_dot_product_attention(qq, k, v, attn_mask=visible, enable_gqa=gqa)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        queries = queries + self.proj(yq.transpose(1, 2).reshape(b, n, c))
        return (x + self.fc_proj(F.gelu(self.fc(self.ln2(x)))),
                queries + self.fc_proj(F.gelu(self.fc(self.ln2(queries)))))

    def forward_step(self, x, real, query_first, cache, layer, output_from):
        """One pass of parallel imagination, as the C++ transform_cached: the first `real` rows
        of x enter the cache (causal among themselves), the rest are frame queries at
        positions query_first.. that read the whole cache after them and add no keys or
        values. Rows before `output_from` give keys and values only."""
        b, t, c = x.shape
        d, kv = c // self.heads, self.kv_heads
        h = self.ln1(x)
        q_real, k, v = self.qkv(h[:, :real]).split([c, kv * d, kv * d], -1)
        q_real = q_real.view(b, real, self.heads, d).transpose(1, 2)
        k, v = k.view(b, real, kv, d).transpose(1, 2), v.view(b, real, kv, d).transpose(1, 2)
        q_query = F.linear(h[:, real:], self.qkv.weight[:c], self.qkv.bias[:c]).view(b, t - real, self.heads, d).transpose(1, 2)
        length = cache["length"]
        if self.rotary is not None:
            q_real, k = self.rotary(q_real, length), self.rotary(k, length)
            q_query = self.rotary(q_query, query_first)
        cache["k"][layer][:, :, length:length + real] = k
        cache["v"][layer][:, :, length:length + real] = v
        keys, values = cache["k"][layer][:, :, :length + real], cache["v"][layer][:, :, :length + real]
        q = torch.cat([q_real[:, :, output_from:], q_query], 2)
        causal = real - output_from
        last_visible = torch.cat([torch.arange(length + output_from, length + real), torch.full((t - real,), length + real - 1)])
        mask = torch.arange(length + real)[None, :] <= last_visible[:, None] if causal > 1 else None
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=kv != self.heads)
        x = x[:, output_from:] + self.proj(y.transpose(1, 2).reshape(b, t - output_from, c))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x))))


class WorldModel(nn.Module):
    def __init__(self, o):
        super().__init__()
        self.o = o
        c = o.width
        self.token_embedding = nn.Embedding(o.vocab, c)
        self.position_embedding = nn.Embedding(o.tokens + 1, c)
        self.step_embedding = nn.Embedding(o.context, c)
        self.action_table = nn.Embedding(o.actions, c)
        if getattr(o, "decoding", "ar") == "parallel":
            self.frame_queries = nn.Embedding(o.tokens, c)
        rotary = Rotary(c // o.heads, o.context * (o.tokens + 1)) if o.rotary else None
        self.blocks = nn.ModuleList(Block(c, o.heads, rotary, getattr(o, "kv_heads", 0)) for _ in range(o.layers))
        self.final_norm = nn.LayerNorm(c)
        self.token_head = nn.Linear(c, o.vocab, bias=False)
        self.reward_head = nn.Sequential(nn.Linear(c, c), nn.GELU(), nn.Linear(c, 3))
        self.done_head = nn.Sequential(nn.Linear(c, c), nn.GELU(), nn.Linear(c, 1))

    def embed_steps(self, tokens, actions, first_step=0):
        b, s, k = tokens.shape
        x = torch.cat([self.token_embedding(tokens), self.action_table(actions).unsqueeze(2)], 2)
        x = x + self.position_embedding.weight[None, None] + self.step_embedding.weight[first_step:first_step + s][None, :, None]
        return x.reshape(b, s * (k + 1), -1)

    def transform(self, x, cache=None):
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        if cache is not None:
            cache["length"] += x.shape[1]
        return self.final_norm(x)

    def forward_parallel(self, tokens, actions):
        """Logits of frames 2..S from the frame queries: [B, S - 1, K, V]."""
        b, s, k = tokens.shape
        p = k + 1
        x = self.embed_steps(tokens, actions)
        queries = (self.frame_queries.weight[None] + self.position_embedding.weight[:k][None] + self.step_embedding.weight[1:s][:, None])
        queries = queries.reshape(1, (s - 1) * k, -1).expand(b, -1, -1)
        positions = (torch.arange(1, s)[:, None] * p + torch.arange(k)[None]).reshape(-1)
        visible = torch.arange(x.shape[1])[None, :] < (positions // p * p)[:, None]
        for block in self.blocks:
            x, queries = block.forward_with_queries(x, queries, positions, visible)
        return self.token_head(self.final_norm(queries)).view(b, s - 1, k, -1)

    def transform_step(self, x, queries, query_first, cache):
        """x's rows enter the cache, the queries read it; the last layer computes a_t's row
        (x's last) and the queries' only. -> [B, 1 + queries, C]."""
        real = x.shape[1]
        h = torch.cat([x, queries], 1)
        for layer, block in enumerate(self.blocks):
            h = block.forward_step(h, real, query_first, cache, layer, real - 1 if layer + 1 == len(self.blocks) else 0)
        cache["length"] += real
        return self.final_norm(h)

    def loss(self, tokens, actions, rewards, dones):
        b, l, k = tokens.shape
        h = self.transform(self.embed_steps(tokens, actions)).view(b, l, k + 1, -1)
        hidden = torch.cat([h[:, :, :k - 1].reshape(-1, h.shape[-1]), h[:, :l - 1, k].reshape(-1, h.shape[-1])])
        targets = torch.cat([tokens[:, :, 1:].reshape(-1), tokens[:, 1:, 0].reshape(-1)])
        token_loss = F.cross_entropy(self.token_head(hidden), targets)
        action_hidden = h[:, :, k]
        reward_loss = F.cross_entropy(self.reward_head(action_hidden).reshape(-1, 3), (torch.sign(rewards) + 1).long().reshape(-1))
        done_loss = F.binary_cross_entropy_with_logits(self.done_head(action_hidden).squeeze(-1), dones.float())
        return token_loss + reward_loss + done_loss


def sample_multinomial(logits, generator=None):
    return torch.multinomial(torch.softmax(logits.float(), -1), 1)[:, 0]


def sample_inverse_cdf(logits, generator=None):
    """One uniform per row: the first index whose cumulative softmax exceeds it."""
    cdf = torch.softmax(logits.float(), -1).cumsum(-1)
    u = torch.rand(cdf.shape[0], 1) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_max(cdf.shape[-1] - 1)


def imagine(model, context_tokens, actions, horizon, decoding="ar", sample=sample_multinomial):
    """KV-cached imagination as dynamics/imagination.cpp does it, rebuilding from the last
    L/2 steps when the context is full."""
    o = model.o
    b = context_tokens.shape[0]
    head_dim = o.width // o.heads
    capacity = o.context * (o.tokens + 1)
    dtype = model.token_embedding.weight.dtype
    kv = getattr(o, "kv_heads", 0) or o.heads
    cache = {"k": [torch.zeros(b, kv, capacity, head_dim, dtype=dtype) for _ in range(o.layers)],
             "v": [torch.zeros(b, kv, capacity, head_dim, dtype=dtype) for _ in range(o.layers)], "length": 0}
    frames, taken = [context_tokens[:, t] for t in range(context_tokens.shape[1])], []
    parallel = decoding == "parallel"

    def embed_frame(tokens, t):
        return model.token_embedding(tokens) + model.position_embedding.weight[:o.tokens] + model.step_embedding.weight[t]

    def prime():
        cache["length"] = 0
        t0 = len(frames)
        parts = []
        if t0 > 1:
            parts.append(model.embed_steps(torch.stack(frames[:-1], 1), torch.stack(taken, 1)))
        if not parallel:
            parts.append(embed_frame(frames[-1], t0 - 1))
        if parts:
            model.transform(torch.cat(parts, 1), cache)

    prime()
    for step in range(horizon):
        if len(frames) >= o.context:
            keep = max(1, o.context // 2)
            del frames[:-keep]
            del taken[:len(taken) - (keep - 1)]
            prime()
        t = len(frames) - 1
        a = actions[:, step]
        x = (model.action_table(a) + model.position_embedding.weight[o.tokens] + model.step_embedding.weight[t]).unsqueeze(1)
        if parallel:
            # One pass, as the C++ side: frame t and a_t into the cache, frame t + 1's queries out.
            queries = (model.frame_queries.weight + model.position_embedding.weight[:o.tokens] + model.step_embedding.weight[t + 1])
            out = model.transform_step(torch.cat([embed_frame(frames[-1], t), x], 1), queries.unsqueeze(0).expand(b, -1, -1),
                                       (t + 1) * (o.tokens + 1), cache)
            hidden = out[:, 0]
            model.reward_head(hidden).argmax(-1)
            torch.sigmoid(model.done_head(hidden).float())
            frame = sample(model.token_head(out[:, 1:]).reshape(b * o.tokens, -1)).view(b, o.tokens)
        else:
            hidden = model.transform(x, cache)[:, 0]
            model.reward_head(hidden).argmax(-1)
            torch.sigmoid(model.done_head(hidden).float())
            tokens = []
            for j in range(o.tokens):
                token = sample(model.token_head(hidden))
                tokens.append(token)
                x = (model.token_embedding(token) + model.position_embedding.weight[j] + model.step_embedding.weight[t + 1]).unsqueeze(1)
                out = model.transform(x, cache)
                if j + 1 < o.tokens:
                    hidden = out[:, 0]
            frame = torch.stack(tokens, 1)
        taken.append(a)
        frames.append(frame)


def golden(model, o):
    """The values a test compares with the C++ model of the same weights: each parameter from
    <dir>/<C++ name>.npy (the C++ model names attention's projections blocks.i.attention.*),
    then logits (and, token by token, the loss and its gradient for the first block's qkv
    weight) of <dir>/tokens.npy and actions.npy."""
    import numpy as np
    from pathlib import Path
    folder = Path(o.dir)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            cpp_name = re.sub(r"^blocks\.(\d+)\.(qkv|proj)\.", r"blocks.\1.attention.\2.", name)
            parameter.copy_(torch.from_numpy(np.load(folder / (cpp_name + ".npy"))))
    tokens = torch.from_numpy(np.load(folder / "tokens.npy"))
    actions = torch.from_numpy(np.load(folder / "actions.npy"))
    model.eval()
    if o.decoding == "parallel":
        with torch.no_grad():
            np.save(folder / "logits.npy", model.forward_parallel(tokens, actions).numpy())
        return
    with torch.no_grad():
        np.save(folder / "logits.npy", model.token_head(model.transform(model.embed_steps(tokens, actions))).numpy())
    loss = model.loss(tokens, actions, torch.zeros(tokens.shape[:2]), torch.zeros(tokens.shape[:2]))
    loss.backward()
    np.save(folder / "loss.npy", np.array([loss.item()], dtype=np.float32))
    np.save(folder / "qkv_grad.npy", model.blocks[0].qkv.weight.grad.numpy())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "imagine", "golden"])
    p.add_argument("--layers", type=int, default=10)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=20)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--actions", type=int, default=9)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--horizon", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rotary", type=int, default=1)
    p.add_argument("--kv-heads", type=int, default=0)
    p.add_argument("--decoding", choices=["ar", "parallel"], default="ar")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--sampler", choices=["multinomial", "inverse_cdf"], default="multinomial")
    p.add_argument("--dir", help="golden: weights, tokens.npy and actions.npy in; logits.npy (and loss.npy) out")
    o = p.parse_args()
    torch.set_num_threads(o.threads)
    torch.manual_seed(0)
    model = WorldModel(o)
    g = torch.Generator().manual_seed(1)
    if o.mode == "golden":
        golden(model, o)
    elif o.mode == "train":
        decay = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
        decay_ids = {id(w) for w in decay}
        other = [q for q in model.parameters() if id(q) not in decay_ids]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}], lr=1e-4)
        tokens = torch.randint(0, o.vocab, (o.batch, o.context, o.tokens), generator=g)
        actions = torch.randint(0, o.actions, (o.batch, o.context), generator=g)
        rewards = torch.randint(-1, 2, (o.batch, o.context), generator=g).float()
        dones = torch.zeros(o.batch, o.context)

        def step():
            # bf16: autocast the forward pass, fp32 weights and AdamW state (as wm's run.precision=bf16)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=o.precision == "bf16"):
                loss = model.loss(tokens, actions, rewards, dones)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()

        step()  # warm-up
        start = time.perf_counter()
        for _ in range(o.steps):
            step()
        seconds = time.perf_counter() - start
        print(json.dumps({"train_tokens_per_s": o.steps * o.batch * o.context * (o.tokens + 1) / seconds}))
    else:
        model.eval()
        if o.precision == "bf16":
            model.to(torch.bfloat16)
        sample = sample_inverse_cdf if o.sampler == "inverse_cdf" else sample_multinomial
        context = torch.randint(0, o.vocab, (o.batch, 1, o.tokens), generator=g)
        actions = torch.randint(0, o.actions, (o.batch, o.horizon), generator=g)
        with torch.inference_mode():
            imagine(model, context, actions, 1, o.decoding, sample)  # warm-up
            start = time.perf_counter()
            imagine(model, context, actions, o.horizon, o.decoding, sample)
            seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({"imagine_steps_per_s": o.batch * o.horizon / seconds, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
