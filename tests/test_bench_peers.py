"""bench/vs_peers.py keeps an earlier results file's seeds when more seeds of the same pair are run."""
import dataclasses
import importlib.util
import json
import os
import sys

import pytest

_spec = importlib.util.spec_from_file_location(
    "vs_peers", os.path.join(os.path.dirname(__file__), "..", "bench", "vs_peers.py"))
vs_peers = importlib.util.module_from_spec(_spec)
sys.modules["vs_peers"] = vs_peers  # dataclasses look their module up
_spec.loader.exec_module(vs_peers)


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path, monkeypatch):
    """vs_peers.main keeps its rows and logs in a new folder under the temporary directory: the test's own."""
    monkeypatch.setattr(vs_peers.tempfile, "tempdir", str(tmp_path))


def _entry(name, budget, seeds, **pair_changes):
    pair = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(vs_peers.PAIRS[name], **pair_changes))))
    return dict(pair=pair, budget=budget, runs=[dict(seed=s, peer={}, jbn=[]) for s in seeds])


def test_kept_runs_keeps_other_seeds_of_the_same_pair_and_budget():
    old = {"pairs": {"rware_sable": _entry("rware_sable", 4096000, [0, 1])}}
    kept = vs_peers.kept_runs(old, ["rware_sable"], {"rware_sable": 4096000}, [1, 2])
    assert [s["seed"] for s in kept["rware_sable"]] == [0]


def test_seeds_added_later_keep_the_window_and_commits_they_ran_in(tmp_path, monkeypatch):
    out = tmp_path / "results.json"
    old_window = dict(started="2026-12-07 10:32:28 UTC", machine={"cpu": "old"}, jbn_commit="jbn-old",
                      peer_commit="mava-old")
    entry = dict(_entry("rware_rec_mappo", 4096000, [0]), provenance=old_window)  # a file from before runs had one
    out.write_text(json.dumps({"pairs": {"rware_rec_mappo": entry}}))
    monkeypatch.setattr(vs_peers, "_git", lambda path: "new" if path else None)
    monkeypatch.setattr(vs_peers, "run_mava", lambda *a: {})
    monkeypatch.setattr(vs_peers, "run_jbn", lambda *a: {})
    monkeypatch.setattr(vs_peers, "summarize", lambda *a: {})
    monkeypatch.setattr(vs_peers, "report", lambda *a: None)
    for seed in ("1", "2"):  # two later calls: each run keeps the window it ran in
        vs_peers.main(["--mava", str(tmp_path), "--pairs", "rware_rec_mappo", "--seeds", seed, "--budget",
                       "rware_rec_mappo=4096000", "--out", str(out)])
    pair = json.loads(out.read_text())["pairs"]["rware_rec_mappo"]
    runs = {r["seed"]: r["provenance"] for r in pair["runs"]}
    assert runs[0] == old_window
    assert runs[1]["jbn_commit"] == runs[2]["jbn_commit"] == "new" and runs[1]["machine"] != {"cpu": "old"}
    assert runs[1]["started"] <= runs[2]["started"] == pair["provenance"]["started"]


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


def test_side_by_side_runs_every_seeds_peer_on_its_own_core_before_jbn_alone(tmp_path, monkeypatch):
    events = []

    def peer(pair, args, seed, budget, work, cpu):
        events.append(("peer start", seed, cpu))
        import time
        time.sleep(0.2)  # both seeds' peer runs must be under way together
        events.append(("peer end", seed, cpu))
        return {}

    monkeypatch.setattr(vs_peers, "_git", lambda path: None)
    monkeypatch.setattr(vs_peers, "run_mava", peer)
    monkeypatch.setattr(vs_peers, "run_jbn", lambda name, pair, flags, args, seed, *a: events.append(("jbn", seed)) or {})
    monkeypatch.setattr(vs_peers, "summarize", lambda *a: {})
    monkeypatch.setattr(vs_peers, "report", lambda *a: None)
    monkeypatch.setattr(vs_peers.os, "cpu_count", lambda: 2)
    out = tmp_path / "results.json"
    vs_peers.main(["--mava", str(tmp_path), "--pairs", "rware_rec_mappo", "--seeds", "1", "2",
                   "--peers-side-by-side", "--out", str(out)])
    starts = [e for e in events if e[0] == "peer start"]
    assert sorted(starts) == [("peer start", 1, 0), ("peer start", 2, 1)]       # a core each
    assert [e[0] for e in events[:2]] == ["peer start", "peer start"]           # together
    assert events[4:] == [("jbn", 1), ("jbn", 2)]                               # then jbn, one at a time
    runs = json.loads(out.read_text())["pairs"]["rware_rec_mappo"]["runs"]
    assert [(r["peer"]["pinned_cpu"], r["peer"]["side_by_side_with"]) for r in runs] == [(0, [2]), (1, [1])]
    # without the flag: no pinning, one seed after the other
    events.clear()
    vs_peers.main(["--mava", str(tmp_path), "--pairs", "rware_rec_mappo", "--seeds", "3", "--out", str(out)])
    assert events == [("peer start", 3, None), ("peer end", 3, None), ("jbn", 3)]
    assert "pinned_cpu" not in json.loads(out.read_text())["pairs"]["rware_rec_mappo"]["runs"][-1]["peer"]


def test_side_by_side_needs_a_core_per_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(vs_peers.os, "cpu_count", lambda: 2)
    with pytest.raises(SystemExit, match="3 seeds \\(0 1 2\\) but 2 cores"):
        vs_peers.main(["--mava", str(tmp_path), "--pairs", "rware_rec_mappo", "--seeds", "0", "1", "2",
                       "--peers-side-by-side", "--out", str(tmp_path / "r.json")])


def test_cores_check_runs_each_peer_on_both_cores_then_on_one_and_no_jbn(tmp_path, monkeypatch):
    events, works = [], set()

    def peer(pair, args, seed, budget, work, cpu=None):
        events.append((pair.peer, seed, budget, cpu))
        works.add(work)
        sps = 100.0 if cpu is None else 175.0
        return dict(cmd=[], rows=[dict(wall_s=12.0, env_steps=1000, ret=0.0)], sps=sps)

    monkeypatch.setattr(vs_peers, "_git", lambda path: None)
    monkeypatch.setattr(vs_peers, "run_mava", peer)
    monkeypatch.setattr(vs_peers, "run_jaxmarl", peer)
    monkeypatch.setattr(vs_peers, "run_jbn", lambda *a: events.append(("jbn",)) or {})
    out = tmp_path / "cores.json"
    out.write_text(json.dumps({"pairs": {"lbf_sable": {"kept": True}}}))
    vs_peers.main(["--mava", str(tmp_path), "--jaxmarl", str(tmp_path), "--pairs", "rware_rec_mappo", "mpe_ippo_ff",
                   "--seeds", "0", "--budget", "rware_rec_mappo=4096", "--cores-check", "--out", str(out)])
    assert events == [("mava", 0, 4096, None), ("mava", 0, 4096, 0),
                      ("jaxmarl", 0, vs_peers.PAIRS["mpe_ippo_ff"].budget, None),
                      ("jaxmarl", 0, vs_peers.PAIRS["mpe_ippo_ff"].budget, 0)]   # no jbn run
    assert len(works) == 2                                  # each configuration's rows in a folder of its own
    result = json.loads(out.read_text())
    assert result["pairs"]["lbf_sable"] == {"kept": True}                        # other pairs kept
    seed0 = result["pairs"]["rware_rec_mappo"]["runs"][0]
    assert (seed0["both_cores"]["sps"], seed0["one_core"]["sps"], seed0["one_core"]["pinned_cpu"]) == (100.0, 175.0, 0)
    assert result["pairs"]["rware_rec_mappo"]["one_core_speedup"] == 1.75        # 175 / 100


def test_cores_check_jbn_runs_jbn_on_both_cores_then_pinned(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(vs_peers, "_git", lambda path: None)
    monkeypatch.setattr(vs_peers, "run_mava", lambda *a, **k: dict(rows=[], sps=1.0))
    monkeypatch.setattr(vs_peers, "run_jbn", lambda name, pair, flags, args, seed, budget, work, tag, cpu=None:
                        calls.append((tag, cpu)) or dict(sps=10.0 if cpu is None else 8.0))
    out = tmp_path / "cores.json"
    vs_peers.main(["--mava", str(tmp_path), "--pairs", "rware_rec_mappo", "--seeds", "0", "--cores-check",
                   "--cores-check-jbn", "--out", str(out)])
    assert calls == [(0, None), (0, 0)]
    jbn = json.loads(out.read_text())["pairs"]["rware_rec_mappo"]["runs"][0]["jbn"]
    assert (jbn[0]["both_cores_sps"], jbn[0]["one_core_sps"]) == (10.0, 8.0)


def test_cores_check_jbn_alone_is_refused(tmp_path):
    import pytest
    with pytest.raises(SystemExit, match="add --cores-check"):
        vs_peers.main(["--mava", str(tmp_path), "--pairs", "rware_rec_mappo", "--cores-check-jbn",
                       "--out", str(tmp_path / "c.json")])
