"""jbn.compare against hand-computed per-seed values, paired differences and the closed-form Student-t tail.

Four seeds, five updates each (env_steps 100..500). The base's seed s earns s + 1 at every update; the other run
adds a per-seed offset, so the per-seed differences are known exactly.
"""
import json
import math

import pytest

from jbn.results import compare

STEPS = [100, 200, 300, 400, 500]


def _write_run(path, per_seed_returns, evals=(), config=None, sweep=None):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config or {"env": "cg_2", "dag": "context"}))
    rows = []
    for seed, returns in per_seed_returns.items():
        for u, (x, r) in enumerate(zip(STEPS, returns)):
            row = {"seed": seed, "update": u + 1, "env_steps": x, "episode_return": r}
            if sweep is not None:
                row["sweep"] = sweep(seed)
            rows.append(row)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    return str(path)


def _t3_two_sided_p(t):
    """Two-sided tail of Student's t with 3 degrees of freedom, closed form:
    F(t) = 1/2 + (1/π)·(u/(1 + u²) + atan u), u = t/√3."""
    u = abs(t) / math.sqrt(3)
    cdf = 0.5 + (u / (1 + u * u) + math.atan(u)) / math.pi
    return 2 * (1 - cdf)


@pytest.fixture
def runs(tmp_path):
    base = {s: [s + 1.0] * 5 for s in range(4)}
    offsets = [1.0, 1.5, 0.5, 1.0]
    # The other run climbs: its last two updates hold base + offset, the first three base - 10.
    other = {s: [s + 1.0 - 10] * 3 + [s + 1.0 + offsets[s]] * 2 for s in range(4)}
    ev = lambda seed, x, r, policy="joint", greedy=False: {  # noqa: E731
        "seed": seed, "update": x // 100, "env_steps": x, "policy": policy, "greedy": greedy, "return": r}
    base_evals = [ev(s, 500, 10.0 * s) for s in range(4)] + [ev(s, 200, -99.0) for s in range(4)]
    # Later rows in the file but earlier steps, and greedy / decentralised rows, must not be taken as "last".
    other_evals = [ev(s, 500, 10.0 * s + 2) for s in range(4)] + [ev(s, 300, 99.0) for s in range(4)]
    other_evals += [ev(s, 500, 77.0, greedy=True) for s in range(4)] + [ev(s, 500, 55.0, "decentralized")
                                                                         for s in range(4)]
    return _write_run(tmp_path / "base", base, base_evals), _write_run(tmp_path / "other", other, other_evals)


def test_paired_difference_matches_hand_computation(runs):
    metric, entries = compare.compare(list(runs), last=2, labels=["base", "other"])
    assert metric == "return"
    base, other = entries
    assert base.vs_base == {} and base.seeds == 4
    # final = mean of the last 2 updates: base seeds 1..4 -> mean 2.5, se = std([1,2,3,4], ddof=1)/2.
    assert base.stats["final"]["mean"] == pytest.approx(2.5)
    assert base.stats["final"]["se"] == pytest.approx(math.sqrt(5 / 3) / 2)
    d = other.vs_base["final"]
    # differences [1, 1.5, 0.5, 1]: mean 1, sample variance (0 + .25 + .25 + 0)/3 = 1/6, se = sqrt(1/6)/2.
    se = math.sqrt(1 / 6) / 2
    assert (d["mean"], d["se"], d["n"]) == (pytest.approx(1.0), pytest.approx(se), 4)
    assert d["t"] == pytest.approx(1.0 / se)
    assert d["p"] == pytest.approx(_t3_two_sided_p(1.0 / se), rel=1e-6)
    assert not d["identical"]
    # mean over training: other = base + (3·(-10) + 2·offset)/5 per seed -> mean difference (-30 + 2)/5.
    assert other.vs_base["mean"]["mean"] == pytest.approx((-30 + 2 * 1.0) / 5)
    # eval: the latest joint sampled row per seed (500 steps): other - base = 2 on every seed, no spread.
    assert other.stats["eval"]["mean"] == pytest.approx(17.0)
    e = other.vs_base["eval"]
    assert (e["mean"], e["se"], e["p"]) == (pytest.approx(2.0), 0.0, 0.0)


def test_identical_runs_are_reported_as_identical(tmp_path, capsys):
    a = _write_run(tmp_path / "a", {s: [1.0, 2.0, 3.0, 4.0, 5.0 + s] for s in range(3)})
    b = _write_run(tmp_path / "b", {s: [1.0, 2.0, 3.0, 4.0, 5.0 + s] for s in range(3)})
    compare.main([a, b])
    out = capsys.readouterr().out
    assert out.count("identical on 3 seeds") == 2  # final and mean; eval absent
    assert "| — | — (< 2 common seeds) |" in out  # no eval rows: no eval statistic, no eval difference


def test_only_common_seeds_are_paired(tmp_path):
    a = _write_run(tmp_path / "a", {0: [1.0] * 5, 1: [2.0] * 5, 2: [3.0] * 5})
    b = _write_run(tmp_path / "b", {1: [4.0] * 5, 2: [5.0] * 5, 7: [100.0] * 5})
    _, (_, other) = compare.compare([a, b], last=1)
    assert other.seeds == 3 and other.stats["final"]["mean"] == pytest.approx(109 / 3)  # all its seeds
    d = other.vs_base["final"]
    assert (d["n"], d["mean"], d["se"]) == (2, pytest.approx(2.0), 0.0)  # seeds 1, 2: +2 each


def test_a_sweep_splits_into_points(tmp_path):
    # seeds 0, 1 are the point lr=0.1 (returns s + 1), seeds 2, 3 the point lr=0.2 (returns s + 1)
    path = _write_run(tmp_path / "sweep", {s: [s + 1.0] * 5 for s in range(4)},
                      sweep=lambda s: {"lr": 0.1 if s < 2 else 0.2})
    base = _write_run(tmp_path / "base", {s: [0.0] * 5 for s in range(4)})
    _, entries = compare.compare([base, path], last=1)
    assert [e.label.split()[-1] for e in entries[1:]] == ["lr=0.1", "lr=0.2"]
    assert [e.stats["final"]["mean"] for e in entries[1:]] == [pytest.approx(1.5), pytest.approx(3.5)]
    assert entries[2].vs_base["final"]["n"] == 2


def test_until_compares_at_an_equal_budget(tmp_path):
    short = _write_run(tmp_path / "short", {s: [1.0, 2.0, 3.0] for s in range(3)})  # only 3 of the 5 steps below
    STEPS_LONG = [1.0, 2.0, 4.0, 40.0, 50.0]
    long = _write_run(tmp_path / "long", {s: STEPS_LONG for s in range(3)})
    _, (_, other) = compare.compare([short, long], last=2, until=300)
    d = other.vs_base["final"]
    assert (d["mean"], d["n"]) == (pytest.approx((2 + 4) / 2 - (2 + 3) / 2), 3)  # updates at 200 and 300 only
    assert other.stats["mean"]["mean"] == pytest.approx(7 / 3)


def test_json_output(runs, tmp_path, capsys):
    out = tmp_path / "cmp.json"
    compare.main([*runs, "--last", "2", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["metric"] == "return" and data["last"] == 2
    assert data["runs"][1]["vs_base"]["final"]["mean"] == pytest.approx(1.0)


@pytest.mark.parametrize("argv, message", [
    (["{a}"], "give a base run and at least one run to compare with it, got 1 run dir(s)"),
    (["{a}", "{a}", "--last", "0"], "--last 0 must be >= 1"),
    (["{a}", "{a}", "--labels", "x"], "--labels has 1 label(s) for 2 run dir(s)"),
    (["{a}", "{missing}"], "does not exist"),
    (["{a}", "{a}", "--metric", "win_rate"], "no run logged win_rate"),
    (["{a}", "{a}", "--until", "50"], "--until 50: no metrics row at or before it"),
    (["{a}", "{a}", "--until", "-1"], "--until -1.0 must be > 0"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, argv, message):
    a = _write_run(tmp_path / "a", {0: [1.0] * 5, 1: [2.0] * 5})
    with pytest.raises(SystemExit) as exit_info:
        compare.main([arg.format(a=a, missing=str(tmp_path / "nope")) for arg in argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_absolute_metric_is_compared_per_seed_when_runs_have_it(runs, tmp_path):
    base, other = runs
    ab = lambda seed, r, policy="joint", greedy=False: {  # noqa: E731
        "seed": seed, "update": 5, "env_steps": 500, "policy": policy, "greedy": greedy, "return": r}
    (tmp_path / "base" / "absolute.jsonl").write_text("".join(json.dumps(ab(s, 100.0 + s)) + "\n" for s in range(4)))
    offsets = [3.0, 1.0, 2.0, 2.0]  # differences: mean 2, se = std([3, 1, 2, 2], ddof=1) / 2
    rows = [ab(s, 100.0 + s + offsets[s]) for s in range(4)] + [ab(s, -5.0, greedy=True) for s in range(4)]
    (tmp_path / "other" / "absolute.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, (b, o) = compare.compare([base, other], labels=["base", "other"])
    assert b.stats["absolute"]["mean"] == pytest.approx(101.5) and b.stats["absolute"]["n"] == 4
    d = o.vs_base["absolute"]
    se = math.sqrt(sum((x - 2.0) ** 2 for x in offsets) / 3) / 2
    assert d["mean"] == pytest.approx(2.0) and d["se"] == pytest.approx(se)
    assert d["p"] == pytest.approx(_t3_two_sided_p(2.0 / se), rel=1e-6)
    text = compare.table("return", [b, o], 10)
    assert "absolute metric, joint sampled" in text and text.count("|---") == 10


def test_without_an_absolute_metric_the_table_has_no_such_column(runs):
    _, entries = compare.compare(list(runs), labels=["base", "other"])
    assert entries[0].stats["absolute"] is None
    assert "absolute" not in compare.table("return", entries, 10)


def test_runs_on_different_envs_are_refused(tmp_path):
    """A paired per-seed comparison of an LBF run with a CG run compared numbers of different games."""
    base = _write_run(tmp_path / "cg", {s: [1.0] * 5 for s in range(2)})
    other = _write_run(tmp_path / "lbf", {s: [0.5] * 5 for s in range(2)},
                       config={"env": "lbf_2s-8x8-2p-2f-coop", "dag": "none"})
    with pytest.raises(compare.PlotError, match=r"trained on different envs \(.*cg: cg_2, .*lbf: "
                                                r"lbf_2s-8x8-2p-2f-coop\): a paired per-seed comparison needs one env"):
        compare.compare([base, other])
