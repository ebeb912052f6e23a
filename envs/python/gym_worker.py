"""One Gymnasium environment in its own process, driven by wm (envs/gym_vector_env.cpp).

Commands arrive on stdin and replies leave on stdout, one JSON object per line; frames go
through a shared-memory file (/dev/shm/<name>, uint8 [H, W, 3]) that wm created. Errors are
replied as {"error": "<Type>: <message>"}; the process then stays ready for more commands.

Atari (ALE/...) ids get the IRIS preprocessing: frame skip with a max over the last two
frames, up to `noop_max` random no-ops after reset, optional end of episode on a lost life
(the game itself continues from there), a limit of `max_frames` emulator frames, and a
resize to H x W. Other ids are rendered with render_mode="rgb_array" and resized.
"""
import json
import mmap
import os
import sys

import numpy as np
from PIL import Image


def reply(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def describe_exception(error):
    return f"{type(error).__name__}: {error}"


class Bridge:
    def __init__(self, args):
        import gymnasium

        self.height, self.width = args["height"], args["width"]
        self.atari = args["env_id"].startswith("ALE/")
        if self.atari:
            import ale_py

            gymnasium.register_envs(ale_py)
            self.env = gymnasium.make(
                args["env_id"],
                frameskip=1,
                repeat_action_probability=args["sticky_actions"],
                full_action_space=False,
                max_num_frames_per_episode=args["max_frames"],
            )
        else:
            self.env = gymnasium.make(args["env_id"], render_mode="rgb_array")
        self.frame_skip = max(1, args["frame_skip"]) if self.atari else 1
        self.noop_max = args["noop_max"] if self.atari else 0
        self.life_loss_ends_episode = args["life_loss_ends_episode"] and self.atari
        self.rng = np.random.default_rng(0)
        self.lives = 0
        self.game_over = True
        shm = open(os.path.join("/dev/shm", args["shm"]), "r+b")
        self.shared = mmap.mmap(shm.fileno(), self.height * self.width * 3)
        shm.close()
        self.frame = np.frombuffer(self.shared, dtype=np.uint8).reshape(self.height, self.width, 3)

    def action_space(self):
        space = self.env.action_space
        if hasattr(space, "n"):
            return {"kind": "discrete", "n": int(space.n)}
        low = np.asarray(space.low, dtype=np.float32).reshape(-1)
        high = np.asarray(space.high, dtype=np.float32).reshape(-1)
        return {"kind": "box", "low": low.tolist(), "high": high.tolist()}

    def publish(self, observation):
        image = observation if self.atari else self.env.render()
        image = np.asarray(image, dtype=np.uint8)
        if image.shape[:2] != (self.height, self.width):
            image = np.asarray(Image.fromarray(image).resize((self.width, self.height), Image.BOX))
        self.frame[:] = image[..., :3]

    def lives_now(self):
        return self.env.unwrapped.ale.lives() if self.atari else 0

    def reset(self, seed):
        if self.life_loss_ends_episode and not self.game_over:
            # The episode ended on a lost life; the game goes on from here.
            observation, _, terminated, truncated, _ = self.env.step(0)
            self.game_over = terminated or truncated
            if not self.game_over:
                self.lives = self.lives_now()
                self.publish(observation)
                return
        observation, _ = self.env.reset(seed=seed % (2**31))
        self.rng = np.random.default_rng(seed)
        for _ in range(int(self.rng.integers(0, self.noop_max + 1)) if self.noop_max > 0 else 0):
            observation, _, terminated, truncated, _ = self.env.step(0)
            if terminated or truncated:
                observation, _ = self.env.reset()
        self.lives = self.lives_now()
        self.game_over = False
        self.publish(observation)

    def step(self, action):
        if isinstance(action, list):
            action = np.asarray(action, dtype=np.float32).reshape(self.env.action_space.shape)
        total_reward, terminated, truncated = 0.0, False, False
        last_two = []
        for _ in range(self.frame_skip):
            observation, reward, terminated, truncated, _ = self.env.step(action)
            total_reward += float(reward)
            last_two = (last_two + [observation])[-2:]
            if terminated or truncated:
                break
        observation = np.maximum(last_two[0], last_two[-1]) if self.atari else observation
        self.game_over = terminated or truncated
        if self.life_loss_ends_episode and not self.game_over:
            lives = self.lives_now()
            if 0 < lives < self.lives:
                terminated = True
            self.lives = lives
        self.publish(observation)
        return {"reward": total_reward, "terminated": bool(terminated), "truncated": bool(truncated)}


def main():
    args = json.loads(sys.argv[1])
    try:
        bridge = Bridge(args)
    except Exception as error:  # reported to wm, which names the env id
        reply({"error": describe_exception(error)})
        return 1
    reply({"ready": True, "action_space": bridge.action_space()})
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "reset":
                bridge.reset(int(command["seed"]))
                reply({"ok": True})
            elif command["cmd"] == "step":
                reply(bridge.step(command["action"]))
            elif command["cmd"] == "close":
                return 0
            else:
                reply({"error": f"ValueError: unknown command {command['cmd']!r}"})
        except Exception as error:
            reply({"error": describe_exception(error)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
