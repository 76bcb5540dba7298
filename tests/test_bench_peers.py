"""bench/vs_peers.py keeps an earlier results file's seeds when more seeds of the same pair are run."""
import dataclasses
import importlib.util
import json
import os
import sys

_spec = importlib.util.spec_from_file_location(
    "vs_peers", os.path.join(os.path.dirname(__file__), "..", "bench", "vs_peers.py"))
vs_peers = importlib.util.module_from_spec(_spec)
sys.modules["vs_peers"] = vs_peers  # dataclasses look their module up
_spec.loader.exec_module(vs_peers)


def _entry(name, budget, seeds, **pair_changes):
    pair = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(vs_peers.PAIRS[name], **pair_changes))))
    return dict(pair=pair, budget=budget, runs=[dict(seed=s, peer={}, jbn=[]) for s in seeds])


def test_kept_runs_keeps_other_seeds_of_the_same_pair_and_budget():
    old = {"pairs": {"rware_sable": _entry("rware_sable", 4096000, [0, 1])}}
    kept = vs_peers.kept_runs(old, ["rware_sable"], {"rware_sable": 4096000}, [1, 2])
    assert [s["seed"] for s in kept["rware_sable"]] == [0]


def test_kept_runs_drops_a_changed_budget_or_pair():
    old = {"pairs": {"rware_sable": _entry("rware_sable", 4096000, [0])}}
    assert vs_peers.kept_runs(old, ["rware_sable"], {"rware_sable": 2048000}, [1]) == {}
    old = {"pairs": {"rware_sable": _entry("rware_sable", 4096000, [0], num_envs=16)}}
    assert vs_peers.kept_runs(old, ["rware_sable"], {"rware_sable": 4096000}, [1]) == {}
    assert vs_peers.kept_runs({"pairs": {}}, ["rware_sable"], {"rware_sable": 4096000}, [1]) == {}
