"""jbn.export: run directories as marl-eval's JSON, checked against the format as marl-eval documents it.

The schema check below is written from marl-eval's README ("Data Structure for Raw Experiment data") and its
`JsonLogger` (seed_<S> runs, step_<i> keys from 0): env -> task -> algorithm -> run -> step_<i> -> step_count (an int)
and metric lists, plus the run's absolute_metrics; every key in lower case (marl-eval lowers them when it reads),
no comma in an algorithm name. The data: tests/data/tiny_runs/, two real 2-seed runs of matrax_Climbing-stateless
(`python -m jbn.train --env matrax_Climbing-stateless --dag none|context --num-seeds 2 --total-steps 2048
--num-envs 8 --num-steps 8 --eval-every 8 --eval-episodes 4 --absolute-episodes 40 --no-checkpoint`, their small
JSON files only), and hand-made rows for what they lack (wins, sweeps, old runs, damage).
"""
import json
import os
import re
import shutil

import pytest

from jbn.results import export
from jbn.results.export import ExportError, Options

DATA = os.path.join(os.path.dirname(__file__), "data", "tiny_runs")
NONE_RUN, CONTEXT_RUN = os.path.join(DATA, "climbing_none"), os.path.join(DATA, "climbing_context")


def rows_of(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def check_marl_eval_schema(data, episodes=None, absolute_episodes=None, need_absolute=True):
    """marl-eval's documented layout; returns the number of runs checked. episodes: the length of every step's
    "return" list when known (absolute_episodes: of absolute_metrics')."""
    runs = 0
    assert isinstance(data, dict) and data
    for env, tasks in data.items():
        assert isinstance(env, str) and env == env.lower() and isinstance(tasks, dict) and tasks
        for task, algos in tasks.items():
            assert task == task.lower() and isinstance(algos, dict) and algos
            for algo, seeds in algos.items():
                assert algo == algo.lower() and "," not in algo and isinstance(seeds, dict) and seeds
                for seed, entry in seeds.items():
                    runs += 1
                    assert re.fullmatch(r"seed_\d+", seed), seed
                    steps = [k for k in entry if k != "absolute_metrics"]
                    assert steps == [f"step_{i}" for i in range(len(steps))], steps  # step_0, step_1, ... in order
                    counts = [entry[k]["step_count"] for k in steps]
                    assert all(type(c) is int for c in counts)
                    assert counts == sorted(counts) and len(set(counts)) == len(counts)  # strictly increasing
                    metric_names = None
                    for k in steps:
                        names = set(entry[k]) - {"step_count"}
                        assert "return" in names
                        metric_names = metric_names or names
                        assert names == metric_names  # marl-eval needs the same metrics at every step
                        for name in names:
                            v = entry[k][name]
                            assert isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v)
                        if episodes is not None:
                            assert len(entry[k]["return"]) == episodes
                        if "win_rate" in names:
                            assert len(entry[k]["win_rate"]) == 1 and 0 <= entry[k]["win_rate"][0] <= 1
                    if need_absolute:
                        assert "absolute_metrics" in entry
                    if "absolute_metrics" in entry:
                        absolute = entry["absolute_metrics"]
                        assert set(absolute) == metric_names
                        if absolute_episodes is not None:
                            assert len(absolute["return"]) == absolute_episodes
    return runs


# ---------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("env,expected", [
    ("lbf_2s-8x8-2p-2f-coop", ("lbf", "2s-8x8-2p-2f-coop")),
    ("matrax_Climbing-stateless", ("matrax", "climbing-stateless")),
    ("smax_6h_vs_8z", ("smax", "6h_vs_8z")),
    ("cg_2", ("cg", "2")),
    ("examples.same_colour:make", ("custom", "examples.same_colour:make")),
    ("aloha", ("aloha", "aloha")),
])
def test_env_and_task_names(env, expected):
    assert export.env_task(env) == expected


@pytest.mark.parametrize("config,policy,expected", [
    ({"dag": "none"}, "joint", "mappo"),
    ({"dag": "none", "anneal": "6h_vs_8z"}, "joint", "mappo"),  # nothing to anneal without a learned DAG
    ({"dag": "none"}, "decentralized", "mappo"),  # mode none is decentralised already
    ({"dag": "line"}, "joint", "bn_line"),
    ({"dag": "full", "anneal": "none"}, "joint", "bn_full"),
    ({"dag": "context", "anneal": None}, "joint", "bn_context"),
    ({"dag": "context", "anneal": "MMM2"}, "joint", "bn_context_annealed"),
    ({"dag": "context", "anneal": "MMM2"}, "decentralized", "bn_context_annealed_decentralized"),
    ({"dag": "context", "anneal": "6h_vs_8z", "edge_prior": 0.95}, "decentralized",
     "bn_context_annealed_prior0.95_decentralized"),
    ({"dag": "context", "anneal": "none", "edge_prior": 0.5}, "joint", "bn_context"),
    ({"dag": "full", "edge_prior": 0.9}, "joint", "bn_full"),
    ({"dag": "none", "recurrent": "gru"}, "joint", "rec_mappo"),
    ({"dag": "full", "recurrent": "gru"}, "decentralized", "rec_bn_full_decentralized"),
])
def test_algorithm_names(config, policy, expected):
    assert export.algorithm_name(config, policy) == expected


# ---------------------------------------------------------------------------------------------------- real runs


def test_real_runs_follow_the_schema_and_carry_the_logged_episodes():
    notes = []
    data = export.build([NONE_RUN, CONTEXT_RUN], warn=notes.append)
    assert notes == []  # new runs: per-episode returns and absolute.jsonl, nothing to say
    assert check_marl_eval_schema(data, episodes=4, absolute_episodes=40) == 4
    algos = data["matrax"]["climbing-stateless"]
    assert sorted(algos) == ["bn_context_annealed", "mappo"]
    for run, algo in ((NONE_RUN, "mappo"), (CONTEXT_RUN, "bn_context_annealed")):
        evals = [r for r in rows_of(os.path.join(run, "eval.jsonl")) if r["policy"] == "joint" and not r["greedy"]]
        absolute = [r for r in rows_of(os.path.join(run, "absolute.jsonl"))
                    if r["policy"] == "joint" and not r["greedy"]]
        assert sorted(algos[algo]) == ["seed_0", "seed_1"]
        for seed in (0, 1):
            mine = sorted((r for r in evals if r["seed"] == seed), key=lambda r: r["env_steps"])
            entry = algos[algo][f"seed_{seed}"]
            assert [entry[f"step_{i}"]["step_count"] for i in range(len(mine))] == [r["env_steps"] for r in mine]
            assert [entry[f"step_{i}"]["return"] for i in range(len(mine))] == [r["returns"] for r in mine]
            assert len(entry) == len(mine) + 1
            (final,) = [r for r in absolute if r["seed"] == seed]
            assert entry["absolute_metrics"] == {"return": final["returns"]}


def test_policy_and_sampling_pick_their_rows():
    greedy = export.build([CONTEXT_RUN], Options(greedy=True), warn=lambda _: None)
    dec = export.build([CONTEXT_RUN, NONE_RUN], Options(policy="decentralized"), warn=lambda _: None)
    rows = rows_of(os.path.join(CONTEXT_RUN, "eval.jsonl"))
    first = lambda policy, greedy: min((r for r in rows if r["seed"] == 0 and r["policy"] == policy  # noqa: E731
                                        and r["greedy"] == greedy), key=lambda r: r["env_steps"])["returns"]
    assert greedy["matrax"]["climbing-stateless"]["bn_context_annealed"]["seed_0"]["step_0"]["return"] == \
        first("joint", True)
    algos = dec["matrax"]["climbing-stateless"]
    assert algos["bn_context_annealed_decentralized"]["seed_0"]["step_0"]["return"] == first("decentralized", False)
    # mode none has no decentralised rows: its joint rows are that policy, under its own name
    none_rows = rows_of(os.path.join(NONE_RUN, "eval.jsonl"))
    assert algos["mappo"]["seed_1"]["step_0"]["return"] == min(
        (r for r in none_rows if r["seed"] == 1 and r["policy"] == "joint" and not r["greedy"]),
        key=lambda r: r["env_steps"])["returns"]


def test_marl_eval_itself_reads_the_export(tmp_path):
    """marl-eval's own loader and checks (PyPI `id-marl-eval`, not a dependency of jbn: it pins pandas 1.4.4 and
    numpy < 2; its data-processing modules need only numpy and colorama, so put them on PYTHONPATH to run this)."""
    dpu = pytest.importorskip("marl_eval.utils.data_processing_utils")
    diagnose = pytest.importorskip("marl_eval.utils.diagnose_data_errors")
    raw = export.build([NONE_RUN, CONTEXT_RUN], warn=lambda _: None)
    assert all(all(v.values()) for v in diagnose.DiagnoseData(json.loads(json.dumps(raw))).check_data().values())
    processed = dpu.data_process_pipeline(raw_data=json.loads(json.dumps(raw)), metrics_to_normalize=["return"])
    assert processed["extra"]["number_of_runs"] == 2 and processed["extra"]["number_of_steps"] == 4
    final, curves = dpu.create_matrices_for_rliable(data_dictionary=processed, environment_name="matrax",
                                                    metrics_to_normalize=["return"])
    assert {a: m.shape for a, m in final["mean_norm_return"].items()} == {"mappo": (2, 1),
                                                                          "bn_context_annealed": (2, 1)}
    assert curves["mean_norm_return"]["mappo"].shape == (2, 1, 4)


# ---------------------------------------------------------------------------------------------------- hand-made runs


def make_run(path, rows, config=None, absolute=None):
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config if config is not None else {"env": "smax_3m", "dag": "full"}, f)
    with open(os.path.join(path, "eval.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    if absolute is not None:
        with open(os.path.join(path, "absolute.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in absolute)
    return str(path)


def row(seed, x, returns=None, mean=None, wins=None, policy="joint", greedy=False, **extra):
    r = {"update": x // 10, "env_steps": x, "seed": seed, "policy": policy, "greedy": greedy,
         "return": mean if mean is not None else sum(returns) / len(returns), "episodes": 2, **extra}
    if returns is not None:
        r["returns"] = returns
    if wins is not None:
        r["win_rate"] = sum(wins) / len(wins)
        r["wins"] = wins
    return r


def test_win_rate_is_one_fraction_per_evaluation(tmp_path):
    rows = [row(0, 20, [1.0, 3.0], wins=[1, 1]), row(0, 10, [0.0, 1.0], wins=[0, 1]),
            row(0, 10, [9.0, 9.0], wins=[1, 1], policy="decentralized")]
    run = make_run(tmp_path / "r", rows, absolute=[row(0, 20, [2.0] * 4, wins=[1, 0, 0, 0])])
    data = export.build([run], warn=lambda _: None)
    check_marl_eval_schema(data, episodes=2, absolute_episodes=4)
    assert data == {"smax": {"3m": {"bn_full": {"seed_0": {
        "step_0": {"step_count": 10, "return": [0.0, 1.0], "win_rate": [0.5]},
        "step_1": {"step_count": 20, "return": [1.0, 3.0], "win_rate": [1.0]},
        "absolute_metrics": {"return": [2.0] * 4, "win_rate": [0.25]}}}}}}


def test_old_runs_fall_back_to_means_and_say_so_once(tmp_path):
    a = make_run(tmp_path / "a", [row(0, 10, mean=1.5), row(0, 20, mean=2.5)])
    b = make_run(tmp_path / "b", [row(1, 10, mean=0.5), row(1, 20, mean=3.5)])
    notes = []
    data = export.build([a, b], warn=notes.append)
    check_marl_eval_schema(data, episodes=1, need_absolute=False)
    seeds = data["smax"]["3m"]["bn_full"]
    assert seeds["seed_0"] == {"step_0": {"step_count": 10, "return": [1.5]}, "step_1": {"step_count": 20,
                                                                                        "return": [2.5]}}
    assert len([n for n in notes if "per-episode" in n]) == 1 and len([n for n in notes if "absolute" in n]) == 1
    filled = export.build([a, b], Options(absolute_from_final=True), warn=lambda _: None)
    check_marl_eval_schema(filled, episodes=1)
    assert filled["smax"]["3m"]["bn_full"]["seed_1"]["absolute_metrics"] == {"return": [3.5]}


def test_names_can_be_given(tmp_path):
    run = make_run(tmp_path / "r", [row(0, 10, [1.0, 2.0])], config={"env": "pkg.mod:make", "dag": "none"})
    data = export.build([run], Options(env_name="Mine", task_name="Tiny"), algorithms=["IPPO"], warn=lambda _: None)
    assert list(data) == ["mine"] and list(data["mine"]) == ["tiny"] and list(data["mine"]["tiny"]) == ["ippo"]
    assert list(export.build([run], warn=lambda _: None)["custom"]) == ["pkg.mod:make"]


def test_runs_merge_by_seed_and_a_repeated_seed_names_both_dirs(tmp_path):
    a = make_run(tmp_path / "a", [row(0, 10, [1.0, 2.0]), row(1, 10, [1.0, 1.0])])
    b = make_run(tmp_path / "b", [row(2, 10, [3.0, 2.0])])
    data = export.build([a, b], Options(absolute_from_final=True), warn=lambda _: None)
    assert sorted(data["smax"]["3m"]["bn_full"]) == ["seed_0", "seed_1", "seed_2"]
    c = make_run(tmp_path / "c", [row(1, 10, [0.0, 0.0])])
    with pytest.raises(ExportError, match=r"seed_1 of smax/3m/bn_full is in both .*/a.* and .*/c"):
        export.build([a, b, c], warn=lambda _: None)


def test_a_sweep_gives_one_algorithm_per_point(tmp_path):
    rows = [row(s, 10, [1.0, 2.0], sweep={"lr": lr}) for s in (0, 1) for lr in (5e-4, 1e-3)]
    data = export.build([make_run(tmp_path / "r", rows)], Options(absolute_from_final=True), warn=lambda _: None)
    check_marl_eval_schema(data, episodes=2)
    assert sorted(data["smax"]["3m"]) == ["bn_full lr=1e-3", "bn_full lr=5e-4"]
    assert sorted(data["smax"]["3m"]["bn_full lr=5e-4"]) == ["seed_0", "seed_1"]


def test_a_torn_last_line_is_skipped(tmp_path):
    run = make_run(tmp_path / "r", [row(0, 10, [1.0, 2.0]), row(0, 20, [2.0, 2.0])])
    with open(os.path.join(run, "eval.jsonl"), "a") as f:
        f.write('{"update": 3, "env_steps": 30, "seed": 0, "pol')
    notes = []
    data = export.build([run], warn=notes.append)
    assert list(data["smax"]["3m"]["bn_full"]["seed_0"]) == ["step_0", "step_1"]
    assert any("skipped 1 unreadable line" in n for n in notes)


# ---------------------------------------------------------------------------------------------------- the command line


def test_cli_writes_the_file(tmp_path, capsys):
    out = tmp_path / "deep" / "marl.json"
    export.main([NONE_RUN, CONTEXT_RUN, "--marl-eval", str(out)])
    assert check_marl_eval_schema(json.loads(out.read_text()), episodes=4, absolute_episodes=40) == 4
    assert str(out) in capsys.readouterr().out


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        export.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: "), err
    return err[-1]


def test_cli_errors(tmp_path, capsys):
    out = str(tmp_path / "o.json")
    assert "does not exist" in _error([str(tmp_path / "nope"), "--marl-eval", out], capsys)
    bare = tmp_path / "bare"
    bare.mkdir()
    assert "has no eval.jsonl" in _error([str(bare), "--marl-eval", out], capsys)
    broken = tmp_path / "broken"
    shutil.copytree(NONE_RUN, broken)
    (broken / "config.json").write_text("{not json")
    assert "config.json: not readable as JSON" in _error([str(broken), "--marl-eval", out], capsys)
    assert "--algorithm has 2 name(s) for 1 run dir(s)" in _error(
        [NONE_RUN, "--marl-eval", out, "--algorithm", "a", "b"], capsys)
    damaged = make_run(tmp_path / "damaged", [row(0, 10, [1.0, 2.0]) | {"returns": [1.0, None]}])
    assert "damaged 'returns'" in _error([damaged, "--marl-eval", out], capsys)
    no_config = make_run(tmp_path / "noconf", [row(0, 10, [1.0, 2.0])], config={})
    assert "--env-name and --task-name" in _error([no_config, "--marl-eval", out], capsys)
    assert "no decentralized, greedy row" in _error(
        [make_run(tmp_path / "joint_only", [row(0, 10, [1.0, 2.0])]), "--marl-eval", out, "--policy",
         "decentralized", "--greedy"], capsys)
    with pytest.raises(SystemExit) as e:  # tyro's own refusal of a value outside the Literal
        export.main([NONE_RUN, "--marl-eval", out, "--policy", "central"])
    assert e.value.code == 2
    assert not os.path.exists(out)
