"""Writes a strip of frames from an episode folder as one PNG (used for README images).

  .venv/bin/python scripts/frame_strip.py runs/demo/episodes/ep_000000 docs/strip.png \
      --every 60 --count 8 --scale 3
"""
import argparse
import pathlib

import numpy as np
from PIL import Image

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("episode", type=pathlib.Path, help="episode folder holding frames.npy")
parser.add_argument("out", type=pathlib.Path, help="PNG to write")
parser.add_argument("--first", type=int, default=0, help="first frame index")
parser.add_argument("--every", type=int, default=60, help="frames between two shown frames")
parser.add_argument("--count", type=int, default=8, help="frames in the strip")
parser.add_argument("--scale", type=int, default=3, help="nearest-neighbour upscaling factor")
args = parser.parse_args()

frames = np.load(args.episode / "frames.npy", mmap_mode="r")
indices = [i for i in range(args.first, len(frames), args.every)][: args.count]
if not indices:
    raise SystemExit(f"{args.episode}: no frames at {args.first}, every {args.every}")
gap = np.full((frames.shape[1], 2, 3), 255, dtype=np.uint8)
strip = np.concatenate([np.concatenate([frames[i], gap], axis=1) for i in indices], axis=1)[:, :-2]
image = Image.fromarray(strip)
image = image.resize((image.width * args.scale, image.height * args.scale), Image.NEAREST)
args.out.parent.mkdir(parents=True, exist_ok=True)
image.save(args.out)
print(f"{args.out}: frames {indices} of {args.episode}")
