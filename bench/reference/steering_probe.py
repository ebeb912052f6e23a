"""Can the policy's conv encoder see where to steer? A supervised probe.

Trains the actor's encoder shape (4 convs of 64 channels at stride 2 over the 64 x 64 pixels,
a 256-wide layer) to predict the scripted expert's steering and throttle from single frames of
its episodes, and prints held-out accuracies. If this reaches high accuracy in a few hundred
steps while reinforcement learning does not learn to steer, the limit is the actor-critic's
credit assignment, not perception (BENCHMARKS.md, "Why both agents stop near 100").

    build/wm collect --config configs/demo.yaml run.name=probe --steps 8000 --policy expert
    .venv/bin/python bench/reference/steering_probe.py runs/probe/episodes
"""
import argparse
import glob
import os

import numpy as np
import torch
import torch.nn as nn


def load(episodes_dir):
    frames, actions, episode = [], [], []
    for i, folder in enumerate(sorted(glob.glob(os.path.join(episodes_dir, "ep_*")))):
        a = np.load(os.path.join(folder, "actions.npy")).reshape(-1)
        f = np.load(os.path.join(folder, "frames.npy"))[: len(a)]  # the frame each action was chosen on
        frames.append(f)
        actions.append(a)
        episode.append(np.full(len(a), i))
    if len(frames) < 2:
        raise SystemExit(f"steering_probe: {episodes_dir} holds {len(frames)} episodes; at least 2 are needed")
    return np.concatenate(frames), np.concatenate(actions), np.concatenate(episode)


def encoder(outputs):
    layers, channels = [], 3
    for _ in range(4):  # 64 -> 32 -> 16 -> 8 -> 4
        layers += [nn.Conv2d(channels, 64, 3, 2, 1), nn.SiLU()]
        channels = 64
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.SiLU(), nn.Linear(256, outputs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("episodes", help="an episode store of the expert (wm collect --policy expert)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    frames, actions, episode = load(args.episodes)
    x = torch.tensor(frames).permute(0, 3, 1, 2).float() / 127.5 - 1  # [N, 3, 64, 64]
    steer, throttle = torch.tensor(actions // 3), torch.tensor(actions % 3)  # index = 3 * steer + throttle
    # Held out: whole episodes (the last quarter of them), so no neighbouring frame of a
    # held-out one was trained on.
    episode = torch.tensor(episode)
    first_held_out = int(episode.max().item() * 3 // 4) + 1
    train = torch.nonzero(episode < first_held_out).squeeze(1)
    held_out = torch.nonzero(episode >= first_held_out).squeeze(1)
    majority = torch.bincount(steer[held_out], minlength=3).max().item() / len(held_out)
    print(f"{len(train)} training frames, {len(held_out)} held-out frames of other episodes; steering majority class {majority:.3f}")

    net = encoder(6)  # 3 steering logits, 3 throttle logits
    optimizer = torch.optim.Adam(net.parameters(), 3e-4)
    for step in range(1, args.steps + 1):
        batch = train[torch.randint(len(train), (64,))]
        out = net(x[batch])
        loss = nn.functional.cross_entropy(out[:, :3], steer[batch]) + nn.functional.cross_entropy(out[:, 3:], throttle[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            with torch.no_grad():
                out = net(x[held_out])
                steer_acc = (out[:, :3].argmax(1) == steer[held_out]).float().mean().item()
                throttle_acc = (out[:, 3:].argmax(1) == throttle[held_out]).float().mean().item()
            print(f"step {step}: loss {loss.item():.3f}, held-out steering accuracy {steer_acc:.3f}, throttle {throttle_acc:.3f}")


if __name__ == "__main__":
    main()
