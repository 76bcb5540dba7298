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


def test_a_run_keeps_the_other_peers_commits_and_records_its_own_provenance(tmp_path, monkeypatch):
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"mava_commit": "mava-old", "mava_sable_commit": "sable-old", "jaxmarl_commit": "jx-old",
                               "pairs": {"rware_sable": _entry("rware_sable", 4096000, [0])}}))
    commits = {str(tmp_path / "JaxMARL"): "jx-new"}
    monkeypatch.setattr(vs_peers, "_git", lambda path: commits.get(path, "jbn-head") if path else None)
    monkeypatch.setattr(vs_peers, "run_jaxmarl", lambda *a: {})
    monkeypatch.setattr(vs_peers, "run_jbn", lambda *a: {})
    monkeypatch.setattr(vs_peers, "summarize", lambda *a: {})
    monkeypatch.setattr(vs_peers, "report", lambda *a: None)
    vs_peers.main(["--jaxmarl", str(tmp_path / "JaxMARL"), "--pairs", "mpe_ippo_ff", "--seeds", "0", "--out", str(out)])
    result = json.loads(out.read_text())
    assert (result["jaxmarl_commit"], result["mava_commit"], result["mava_sable_commit"]) == \
        ("jx-new", "mava-old", "sable-old")
    assert set(result["pairs"]) == {"rware_sable", "mpe_ippo_ff"}
    prov = result["pairs"]["mpe_ippo_ff"]["provenance"]
    assert (prov["jbn_commit"], prov["peer_commit"]) == ("jbn-head", "jx-new")
