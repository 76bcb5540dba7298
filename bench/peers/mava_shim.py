"""Runs one of Mava's systems unmodified from a Mava checkout, in Mava's own interpreter, with the smallest shim that
lets its Oct 2024 snapshot import against what PyPI offers (bench/peers/mava-shim.md says exactly what differs).

    JBN_ROWS=rows.jsonl python bench/peers/mava_shim.py MAVA_CHECKOUT mava.systems.ppo.anakin.ff_mappo \
        env=lbf env/scenario=2s-8x8-2p-2f-coop system.seed=0 ...

What it does before the system's Hydra entry point runs (nothing of Mava's code is changed or copied):
  1. `gigastep` (a GitHub-only dependency, imported by mava/utils/make_env.py and mava/wrappers/gigastep.py for the
     Gigastep envs alone) is a stand-in module whose `ScenarioBuilder` and `GigastepEnv` refuse to be used.
  2. `jumanji.environments.routing.connector.MaConnector` (a name of Mava's pinned Jumanji fork, imported by
     mava/wrappers/jumanji.py for the Connector wrapper's annotations) is bound to PyPI Jumanji's `Connector` when
     the installed Jumanji lacks it. LBF and RWARE never touch it.
  3. Jumanji >= 1.0 (the first PyPI release with LBF is 1.1.0) exposes `observation_spec`, `action_spec`,
     `reward_spec` and `discount_spec` as cached properties; Mava's snapshot, written against the pre-1.0 fork, calls
     them as methods (`env.action_spec().num_values`). On `jumanji.env.Environment` and every subclass imported (LBF,
     RWARE, Connector, Cleaner, `jumanji.wrappers.Wrapper`), each such property becomes a method returning the same
     value (the Wrapper's forwards the call to the wrapped env). The dynamics are untouched.
  4. `mava.utils.logger.MavaLogger.log` is wrapped: the original runs unchanged (console, json, ...), and every call
     is also written to $JBN_ROWS as one JSON line: the event (actor / trainer / evaluator / absolute / misc), the
     env steps `t`, the evaluation index, the mean of every metric (and for episode returns their count) and
     `wall_s`, seconds since this process started.
  5. Only with JBN_SABLE_OUTPUT_ORDER=fix (bench/vs_peers.py sets it for its Sable pairs): feat/sable from 59972c1e9
     on has a bug of its own, fixed upstream later: `SableNetwork.__call__` (mava/networks/sable_network.py, the
     training pass) returns `(value, log_prob, entropy)` while ff_sable.py and rec_sable.py unpack
     `(log_prob, value, entropy)`, so the PPO ratio is taken of the value and the policy never learns (entropy flat at
     its start). `mava.networks.SableNetwork` is then a subclass whose `__call__` returns the order the systems read;
     the network, its parameters and every other path (acting, evaluation) are unchanged.
The checkout goes first on sys.path and becomes the working directory (Mava's configs name `file://mava/configs`
relative to it); the system's file runs as `__main__`, as `python mava/systems/ppo/anakin/ff_mappo.py` (Mava's README)
runs it, with the argv after the module name as its Hydra overrides.
"""
import functools
import importlib.util
import json
import os
import runpy
import sys
import time
import types

T0 = time.perf_counter()


def _refuse(name):
    class Refused:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(f"gigastep.{name} is a stand-in (bench/peers/mava_shim.py): Gigastep is not installed")

        @classmethod
        def from_config(cls, *args, **kwargs):
            cls()

    Refused.__name__ = name
    return Refused


def install_stand_ins():
    gigastep = types.ModuleType("gigastep")
    gigastep.ScenarioBuilder = _refuse("ScenarioBuilder")
    gigastep_env = types.ModuleType("gigastep.gigastep_env")
    gigastep_env.GigastepEnv = _refuse("GigastepEnv")
    gigastep.gigastep_env = gigastep_env
    sys.modules.setdefault("gigastep", gigastep)
    sys.modules.setdefault("gigastep.gigastep_env", gigastep_env)

    import jumanji.environments.routing.connector as connector
    if not hasattr(connector, "MaConnector"):
        connector.MaConnector = connector.Connector
    specs_as_methods()


SPECS = ("observation_spec", "action_spec", "reward_spec", "discount_spec")


def specs_as_methods():
    import jumanji.environments.routing.cleaner  # noqa: F401  (the classes whose specs are turned into methods)
    import jumanji.environments.routing.lbf  # noqa: F401
    import jumanji.environments.routing.robot_warehouse  # noqa: F401
    from jumanji.env import Environment
    from jumanji.wrappers import Wrapper

    def forward(name):
        return lambda self: getattr(self._env, name)()

    todo, seen = [Environment], set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        for name in SPECS:
            attr = cls.__dict__.get(name)
            if isinstance(attr, functools.cached_property):
                setattr(cls, name, forward(name) if cls is Wrapper else attr.func)
            elif isinstance(attr, property):
                setattr(cls, name, forward(name) if cls is Wrapper else attr.fget)


def _summary(value):
    import numpy as np

    a = np.asarray(value, dtype=np.float64)
    return float(a.mean()) if a.size else None


def record_logger_calls(path):
    from mava.utils import logger as mava_logger

    out = open(path, "w")
    original = mava_logger.MavaLogger.log

    def log(self, metrics, t, t_eval, event):
        row = dict(event=event.value, t=int(t), t_eval=int(t_eval), wall_s=time.perf_counter() - T0)
        for key, value in metrics.items():
            try:
                row[key] = _summary(value)
            except (TypeError, ValueError):
                continue
            if key == "episode_return":
                row["n_episodes"] = int(getattr(value, "size", 1))
        out.write(json.dumps(row) + "\n")
        out.flush()
        return original(self, metrics, t, t_eval, event)

    mava_logger.MavaLogger.log = log


def fix_sable_output_order():
    import mava.networks as networks
    from mava.networks import sable_network

    class SableNetworkSystemsOrder(sable_network.SableNetwork):
        def __call__(self, *args, **kwargs):
            value, log_prob, entropy = super().__call__(*args, **kwargs)
            return log_prob, value, entropy

    networks.SableNetwork = SableNetworkSystemsOrder
    print("mava_shim: SableNetwork.__call__ returns (log_prob, value, entropy), the order ff/rec_sable.py read",
          flush=True)


def main():
    checkout, module_name, *overrides = sys.argv[1:]
    checkout = os.path.abspath(checkout)
    sys.path.insert(0, checkout)
    os.chdir(checkout)
    install_stand_ins()
    record_logger_calls(os.environ["JBN_ROWS"])
    if os.environ.get("JBN_SABLE_OUTPUT_ORDER") == "fix":
        fix_sable_output_order()
    # run as `python mava/systems/.../ff_mappo.py` (Mava's README): Hydra then finds the configs relative to the file
    script = importlib.util.find_spec(module_name).origin
    sys.argv = [script, *overrides]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
