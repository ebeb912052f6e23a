"""The wm tokenizer written in PyTorch: the peer `wm bench tokenizer` compares the C++
implementation with. Same architecture, loss, optimizer and codebook updates as
tokenizer/*.cpp; run by the benchmark with the same batch, threads and torch.

Prints one JSON object: {"train_frames_per_s": ..., "encode_frames_per_s": ...}.
`golden --dir D` instead loads the C++ model's weights from D (one .npy per parameter or
buffer, named as in C++: the module names here follow tokenizer/*.cpp) and writes what one
training step computes (tests/tokenizer/tokenizer_golden_test.cpp compares).
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels):
    return nn.GroupNorm(min(32, channels // 4), channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.norm2 = group_norm(cin), group_norm(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).permute(1, 0, 3, 2).unsqueeze(2)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).squeeze(1).transpose(1, 2).reshape(b, c, h, w)
        return x + self.out(y)


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


# Module names follow tokenizer/*.cpp, so the state_dict keys are the C++ parameter names
# (the golden test loads the C++ weights by name).
class Encoder(nn.Module):
    def __init__(self, o):
        super().__init__()
        ch = o.base * o.mult[0]
        self.stem = nn.Conv2d(3, ch, 3, padding=1)
        self.levels = nn.ModuleList()
        for level, m in enumerate(o.mult):
            for _ in range(o.res_blocks):
                self.levels.append(ResBlock(ch, o.base * m))
                ch = o.base * m
            if level + 1 < len(o.mult):
                self.levels.append(Downsample(ch))
        self.mid1, self.attention, self.mid2 = ResBlock(ch, ch), Attention(ch), ResBlock(ch, ch)
        self.norm_out = group_norm(ch)
        self.to_code = nn.Conv2d(ch, o.code_dim, 1)

    def forward(self, x):
        h = self.stem(x)
        for layer in self.levels:
            h = layer(h)
        h = self.mid2(self.attention(self.mid1(h)))
        return self.to_code(F.silu(self.norm_out(h)))


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    def __init__(self, o):
        super().__init__()
        ch = o.base * o.mult[-1]
        self.from_code = nn.Conv2d(o.code_dim, ch, 3, padding=1)
        self.mid1, self.attention, self.mid2 = ResBlock(ch, ch), Attention(ch), ResBlock(ch, ch)
        self.levels = nn.ModuleList()
        for level in reversed(range(len(o.mult))):
            for _ in range(o.res_blocks):
                self.levels.append(ResBlock(ch, o.base * o.mult[level]))
                ch = o.base * o.mult[level]
            if level > 0:
                self.levels.append(Upsample(ch))
        self.norm_out = group_norm(ch)
        self.to_rgb = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z):
        h = self.mid2(self.attention(self.mid1(self.from_code(z))))
        for layer in self.levels:
            h = layer(h)
        return self.to_rgb(F.silu(self.norm_out(h)))


class Quantizer(nn.Module):
    def __init__(self, vocab, dim, decay):
        super().__init__()
        initial = F.normalize(torch.randn(vocab, dim), dim=-1)
        self.register_buffer("codebook", initial.clone())
        self.register_buffer("ema_count", torch.ones(vocab))
        self.register_buffer("ema_sum", initial.clone())
        self.register_buffer("recent_counts", torch.zeros(vocab))  # usage since the last restart check
        self.vocab, self.decay = vocab, decay

    def forward(self, z):
        b, d, h, w = z.shape
        flat = F.normalize(z.permute(0, 2, 3, 1).reshape(-1, d), dim=-1)
        tokens = (flat.detach() @ self.codebook.t()).argmax(1)
        codes = self.codebook[tokens]
        commitment = (flat - codes).pow(2).sum(1).mean()
        quantized = (flat + (codes - flat).detach()).reshape(b, h, w, d).permute(0, 3, 1, 2)
        if self.training:
            with torch.no_grad():
                counts = torch.bincount(tokens, minlength=self.vocab).to(flat.dtype)
                sums = torch.zeros(self.vocab, d, dtype=flat.dtype).index_add_(0, tokens, flat.detach())
                self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
                self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
                self.codebook.copy_(F.normalize(self.ema_sum / self.ema_count.clamp_min(1e-5)[:, None], dim=-1))
                self.recent_counts.add_(counts)
        return quantized, tokens.reshape(b, h, w), commitment


class VQModel(nn.Module):
    def __init__(self, o):
        super().__init__()
        self.encoder, self.decoder = Encoder(o), Decoder(o)
        self.quantizer = Quantizer(o.vocab, o.code_dim, 0.99)

    def loss(self, frames):
        return self.forward_all(frames)[0]

    def forward_all(self, frames):
        """-> (loss, reconstruction in [-1, 1] [B, 3, H, W], tokens [B, h, w])"""
        x = frames.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        quantized, tokens, commitment = self.quantizer(self.encoder(x))
        reconstruction = self.decoder(quantized)
        diff = reconstruction - x
        return diff.abs().mean() + diff.pow(2).mean() + 0.25 * commitment, reconstruction, tokens

    @torch.no_grad()
    def encode(self, frames):
        x = frames.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        return self.quantizer(self.encoder(x))[1]


def measure(fn, frames_per_call, seconds):
    fn()  # warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls * frames_per_call / (time.perf_counter() - start)


def golden(o):
    """The C++ model's weights (<dir>/<parameter or buffer name>.npy) and frames (frames.npy)
    in: one training-mode forward and backward, and the codebook after its EMA update, out
    as .npy files beside them for tests/tokenizer/tokenizer_golden_test.cpp."""
    import numpy as np
    from pathlib import Path
    d = Path(o.dir)
    model = VQModel(o)
    state = {name: torch.from_numpy(np.load(d / f"{name}.npy")) for name in model.state_dict()}
    model.load_state_dict(state, strict=True)
    frames = torch.from_numpy(np.load(d / "frames.npy"))
    model.train()
    loss, reconstruction, tokens = model.forward_all(frames)
    loss.backward()
    np.save(d / "twin_loss.npy", loss.detach().numpy())
    np.save(d / "twin_reconstruction.npy", reconstruction.detach().numpy())
    np.save(d / "twin_tokens.npy", tokens.numpy())
    np.save(d / "twin_codebook.npy", model.quantizer.codebook.numpy())
    for name in ("encoder.stem.weight", "encoder.mid1.conv1.weight", "decoder.to_rgb.weight", "decoder.attention.qkv.weight"):
        np.save(d / f"twin_grad.{name}.npy", dict(model.named_parameters())[name].grad.numpy())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", nargs="?", choices=["bench", "golden"], default="bench")
    p.add_argument("--dir", help="golden: the folder of the C++ weights and frames")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--mult", type=str, default="1,2,2,4")
    p.add_argument("--res-blocks", type=int, default=1)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--code-dim", type=int, default=32)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    o = p.parse_args()
    o.mult = [int(m) for m in o.mult.split(",")]
    torch.set_num_threads(o.threads)
    if o.mode == "golden":
        golden(o)
        return
    torch.manual_seed(0)
    model = VQModel(o)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99))
    frames = torch.randint(0, 256, (o.batch, o.height, o.width, 3), dtype=torch.uint8)

    bf16 = o.precision == "bf16"  # autocast the forward pass, fp32 weights and AdamW state (as wm's run.precision=bf16)

    def train_step():
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(frames)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    def encode():
        model.eval()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model.encode(frames)

    print(json.dumps({"train_frames_per_s": measure(train_step, o.batch, o.seconds),
                      "encode_frames_per_s": measure(encode, o.batch, o.seconds),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
