"""The StarCraft II bridge's own cost per env step, measured against the fake game server (no game).

    python bench/sc2_overhead.py [--maps 3m 6h_vs_8z MMM2] [--layouts smax smac] [--steps 300]

Needs the sc2 extra (`pip install -e '.[test,sc2]'`). The fake game runs as its own process, started by
pysc2's launch path from a fake SC2PATH, so the client's timings are not shared with the server's work.
Per map and layout, microseconds per env step (medians over --steps steps):

  adapter    raw units -> unit table, last-action memory, observation + state + masks, reward, and the
             actions -> raw commands (numpy, no I/O)
  protocol   the three requests of a step (RequestAction, RequestStep(8), RequestObservation): protobuf
             serialize/parse, websocket round trips to the game process, and that process's work
  fake game  the fake server's part of `protocol` (request handling + its battle), measured in-thread
  bridge     adapter + protocol - fake game: what the bridge adds on top of the game's 8 game loops
  env.step   SC2Env.step as a learner calls it (steps that end an episode are excluded: `reset` adds a
             kill-all, 2 game loops and a re-spawn wait, reported as `episode end`)
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import numpy as np

from envs_jax import sc2
from envs_jax.sc2.fake_server import FakeLauncher, fake_map, write_fake_install
from envs_jax.sc2.layouts import smac_reward, smax_reward
from envs_jax.sc2.units import carry_maxima, table_from_raw


def _random_actions(rng, avail):
    return np.array([rng.choice(np.flatnonzero(a)) for a in avail])


def _median_us(samples):
    return 1e6 * statistics.median(samples)


def measure(map_name: str, layout: str, steps: int, sc2_path: str) -> dict:
    rng = np.random.default_rng(0)
    env = sc2.make(f"sc2_{map_name}", layout=layout, sc2_path=sc2_path, timeout_s=30)
    out = {"map": map_name, "layout": layout, "N": env.num_agents}
    with env:
        state, ts = env.reset()
        # env.step as a learner calls it
        step_s, end_s = [], []
        for _ in range(steps):
            a = _random_actions(rng, ts.avail)
            t0 = time.perf_counter()
            state, ts = env.step(None, state, a)
            (end_s if ts.done else step_s).append(time.perf_counter() - t0)
        out["env.step"] = _median_us(step_s)
        out["episode end"] = _median_us(end_s) if end_s else float("nan")
        out["episodes"] = len(end_s)

        # protocol: the three requests, against the game process
        controller = env._game.controller
        proto_s, raws = [], []
        for _ in range(steps):
            cmds = env.layout.commands(_random_actions(rng, env._obs.avail), env.units)
            t0 = time.perf_counter()
            env._send(cmds)
            controller.step(env.step_mul)
            response = controller.observe()
            proto_s.append(time.perf_counter() - t0)
            raws.append(response)
        out["protocol"] = _median_us(proto_s)

        # adapter: everything numpy does in a step, on a live episode's observations
        state, ts = env.reset()
        response = controller.observe()
        before = env.units
        adapter_s = []
        for _ in range(steps):
            a = _random_actions(rng, ts.avail)
            t0 = time.perf_counter()
            env.layout.commands(a, before)
            after = carry_maxima(table_from_raw(response.observation.raw_data.units, env.roster), before)
            env.layout.record(a, before, after)
            ob = env.layout.observe(after)
            if env.reward_kind == "smac":
                smac_reward(before, after, env.num_agents, False, env._max_reward)
            else:
                smax_reward(before, after, env.num_agents, False)
            adapter_s.append(time.perf_counter() - t0)
            ts = ts._replace(avail=ob.avail)
        out["adapter"] = _median_us(adapter_s)

    # the fake server's own work per step, measured in a thread (its busy time per step)
    launcher = FakeLauncher(enemy_ai="attack")
    env = sc2.make(f"sc2_{map_name}", layout=layout, launcher=launcher)
    with env:
        env.reset()
        server = launcher.servers[-1]
        controller = env._game.controller
        busy = []
        for _ in range(steps):
            cmds = env.layout.commands(_random_actions(rng, env._obs.avail), env.units)
            b0 = server.busy_s
            env._send(cmds)
            controller.step(env.step_mul)
            controller.observe()
            busy.append(server.busy_s - b0)
        out["fake game"] = _median_us(busy)
    out["bridge"] = out["adapter"] + out["protocol"] - out["fake game"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", nargs="+", default=["3m", "6h_vs_8z", "MMM2"])
    parser.add_argument("--layouts", nargs="+", default=["smax", "smac"])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}; fake game, "
          f"{args.steps} steps per row, medians in microseconds per env step")
    with tempfile.TemporaryDirectory() as tmp:
        root = write_fake_install(tmp, {m: fake_map(m, enemy_ai="attack") for m in args.maps})
        rows = [measure(m, lay, args.steps, str(root)) for m in args.maps for lay in args.layouts]
    cols = ["map", "layout", "N", "adapter", "protocol", "fake game", "bridge", "env.step", "episode end", "episodes"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = [f"{r[c]:.0f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        print("| " + " | ".join(cells) + " |")
    print("\nbridge = adapter + protocol - fake game; env.step also holds the fake game's work.")


if __name__ == "__main__":
    main()
