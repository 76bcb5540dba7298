"""Sweeps on one device: hyper-parameters as state leaves, bad --sweep input refused before compile, a sweep point in a
batch equals that point alone, rows tagged with their point, plots grouped by point, the memory check, and the
placement's refusals (the sharded runs themselves: tests/test_sharding.py)."""
import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jbn.host import placement as place
from jbn.results import plot
from jbn.training import ppo, schedules, sweep
from jbn import train
from jbn.training import trainer as tr
from jbn.training.config import Config, UserError, resolve


def _tiny(**kw):
    base = dict(env="cg_2", dag="context", anneal="6h_vs_8z", num_envs=4, num_steps=8, total_steps=4 * 8 * 10,
                num_epochs=2, num_minibatches=2, updates_per_chunk=5, eval_episodes=0, checkpoint=False)
    return resolve(Config(**{**base, **kw}))


def _learn(cfg):
    """Every chunk of cfg, as `train.run` runs them on one device: metrics [runs, updates], final state."""
    trainer = tr.make_train(cfg)
    state = tr.init_runs(trainer.init, tr.run_keys(cfg), sweep.run_hypers(cfg))
    chunk = jax.jit(tr.over_runs(trainer.update_chunk, cfg.num_runs))
    out = []
    for _ in range(cfg.num_chunks):
        state, m = chunk(state)
        out.append(jax.device_get(m))
    return jax.tree.map(lambda *x: np.concatenate(x, axis=1), *out), state


# ---------------------------------------------------------------- bad input, before any compile
@pytest.mark.parametrize("spec,match", [
    ("lr", r"expected NAME=v1,v2.*sweepable names: lr, max_grad_norm"),
    ("learning_rate=1e-3", r"'learning_rate' cannot be swept; sweepable names: lr, max_grad_norm, clip_eps.*anneal_c"),
    ("num_envs=4,8", r"'num_envs' cannot be swept"),
    ("lr=1e-3,fast", r"'fast' is not a number"),
    ("lr=", r"'' is not a number"),
    ("lr=1e-3,-1e-3", r"lr \(Adam learning rate\) must be a finite number > 0, got -0.001"),
    ("gamma=0.9,1.5", r"gamma \(discount\) must be a finite number in \(0, 1\], got 1.5"),
    ("ent_coef=nan", r"ent_coef .* must be a finite number >= 0, got nan"),
    ("lr=1e-3,0.001", r"a value is repeated"),
])
def test_bad_sweep_is_refused_naming_the_value(spec, match):
    with pytest.raises(UserError, match=match):
        _tiny(sweep=(spec,))


def test_sweep_axis_twice_and_schedule_values_without_a_schedule_are_refused():
    with pytest.raises(UserError, match="lr is swept twice"):
        _tiny(sweep=("lr=1e-3", "lr=3e-4"))
    with pytest.raises(UserError, match=r"--sweep alpha0: the density penalty is off .*dag=full"):
        _tiny(dag="full", anneal=None, sweep=("alpha0=0.1,0.2",))
    with pytest.raises(UserError, match=r"anneal=none"):
        _tiny(anneal="none", sweep=("anneal_b=0.5,0.6",))
    with pytest.raises(UserError, match=r"sweep point anneal_b=0.3: the schedule needs anneal_a <= anneal_b"):
        _tiny(sweep=("anneal_b=0.5,0.3",))  # a = 0.4 in the 6h_vs_8z schedule


def test_bad_sweep_on_the_command_line_exits_2_before_writing(tmp_path, capsys):
    run_dir = tmp_path / "r"
    with pytest.raises(SystemExit) as e:
        train.main(["--env", "cg_2", "--num-envs", "2", "--num-steps", "5", "--total-steps", "40", "--run-dir",
                    str(run_dir), "--sweep", "lr=1e-3,3e-4", "--sweep", "momentum=0.9"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "'momentum' cannot be swept; sweepable names: lr," in err and "Traceback" not in err
    assert not run_dir.exists()


def test_runs_are_the_grid_times_the_seeds_point_major():
    cfg = _tiny(num_seeds=2, seed=3, sweep=("lr=3e-4,5e-4,1e-3", "alpha0=0.05, 0.1"))
    assert cfg.sweep == ("lr=0.0003,0.0005,0.001", "alpha0=0.05,0.1")  # canonical: a resume compares values
    assert cfg.num_points == 6 and cfg.num_runs == 12
    runs = sweep.runs(cfg)
    assert [r.seed for r in runs[:4]] == [3, 4, 3, 4]
    assert runs[2].tags == {"seed": 3, "sweep": {"lr": 0.0003, "alpha0": 0.1}}
    assert runs[2].name == "lr=3e-4_alpha0=0.1/seed_3"
    hypers = sweep.run_hypers(cfg)
    assert [float(h.lr) for h in hypers[::2]] == pytest.approx([3e-4, 3e-4, 5e-4, 5e-4, 1e-3, 1e-3])
    assert float(hypers[11].alpha0) == pytest.approx(0.1) and float(hypers[11].alpha1) == pytest.approx(1.0)
    assert float(hypers[0].ent_coef) == pytest.approx(cfg.ent_coef)
    no_sweep = _tiny(num_seeds=2)
    assert no_sweep.num_runs == 2 and sweep.runs(no_sweep)[1].tags == {"seed": 1}


# ---------------------------------------------------------------- the leaves are what the update reads
def test_injected_optimizer_equals_the_static_one():
    """lr and max_grad_norm as optimiser-state leaves (`optax.inject_hyperparams`) give bit for bit the update of
    the optimiser built with them as Python floats (`ppo.make_optimizer`, what the trainer used before)."""
    params = {"actor": {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)}, "critic": {"b": jnp.arange(3.0)}}
    grads = jax.tree.map(lambda x: 40.0 * jnp.sin(3.0 * x + 1.0), params)  # norms above the clipping norm
    cfg = _tiny(lr=3e-4, max_grad_norm=0.5)
    static = ppo.make_optimizer(3e-4, 0.5, list(params), cfg.grad_clip)
    injected = tr.make_optimizer(cfg.ppo, list(params))
    hyper = sweep.hyper_of(sweep.base_values(cfg))
    s1, s2 = static.init(params), tr.set_hyper(injected.init(params), jax.tree.map(jnp.asarray, hyper))
    for _ in range(3):
        u1, s1 = static.update(grads, s1, params)
        u2, s2 = injected.update(grads, s2, params)
        for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2)):
            np.testing.assert_array_equal(a, b)
    # and another lr in the leaf is another step size
    s3 = tr.set_hyper(injected.init(params), hyper._replace(lr=jnp.float32(6e-4)))
    u3, _ = injected.update(grads, s3, params)
    u1, _ = static.update(grads, static.init(params), params)
    np.testing.assert_allclose(jax.tree.leaves(u3)[0], 2 * jax.tree.leaves(u1)[0], rtol=1e-6)


def test_schedule_with_array_values_equals_the_static_schedule():
    cfg = schedules.AnnealConfig(a=0.3, b=0.6, c=0.9, alpha0=0.2, alpha1=0.7)
    f = jnp.linspace(0.0, 1.0, 401)
    arrays = {k: jnp.float32(getattr(cfg, k)) for k in ("a", "b", "c", "alpha0", "alpha1")}
    np.testing.assert_array_equal(schedules.eta(f, cfg), schedules.eta(f, schedules.PRESETS["6h_vs_8z"],
                                                                       a=arrays["a"], b=arrays["b"]))
    np.testing.assert_allclose(schedules.alpha(f, cfg), schedules.alpha(
        f, schedules.PRESETS["6h_vs_8z"], **{k: arrays[k] for k in ("b", "c", "alpha0", "alpha1")}), rtol=1e-6)
    empty = schedules.AnnealConfig(a=0.5, b=0.5, c=0.5)  # empty intervals: the whole staircase at once
    np.testing.assert_array_equal(schedules.eta(f, empty), schedules.eta(f, empty, a=jnp.float32(0.5),
                                                                         b=jnp.float32(0.5)))


def test_sweep_point_in_a_batch_equals_that_point_alone():
    """8 runs (2 lr x 2 alpha0 x 2 seeds) in one vmap; the run (lr=3e-4, alpha0=0.2, seed 6) trained alone (no vmap,
    lr given as a flag, alpha0 as a one-point sweep) gives the same metrics; the logged α follows the schedule
    computed independently with that α₀, and the points really differ."""
    cfg = _tiny(num_seeds=2, seed=5, sweep=("lr=1e-3,3e-4", "alpha0=0.05,0.2"))
    batched, state = _learn(cfg)
    r = 3 * 2 + 1  # point (3e-4, 0.2), seed 5 + 1
    assert sweep.runs(cfg)[r].tags == {"seed": 6, "sweep": {"lr": 0.0003, "alpha0": 0.2}}
    alone, alone_state = _learn(_tiny(lr=3e-4, seed=6, sweep=("alpha0=0.2",)))
    for name in ("reward_per_step", "dag_density", "eta", "alpha"):
        np.testing.assert_allclose(getattr(batched, name)[r], getattr(alone, name)[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched.loss.total[r], alone.loss.total[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jax.tree.leaves(state.params)[0][r], jax.tree.leaves(alone_state.params)[0][0],
                               rtol=1e-4, atol=1e-5)
    frac = np.arange(cfg.num_updates) / cfg.num_updates
    expected = schedules.alpha(frac, dataclasses.replace(schedules.PRESETS["6h_vs_8z"], alpha0=0.2))
    np.testing.assert_allclose(batched.alpha[r], expected, rtol=1e-6)
    assert batched.alpha[r - 2, 0] == pytest.approx(0.05)  # the point (3e-4, 0.05), same seed
    assert not np.allclose(batched.loss.total[r], batched.loss.total[r - 2])  # alpha0 0.05 vs 0.2, same seed
    p_lr1, p_lr2 = (jax.tree.leaves(state.params)[0][i] for i in (1, 5))  # same seed and alpha0, lr 1e-3 vs 3e-4
    assert not np.allclose(p_lr1, p_lr2)


# ---------------------------------------------------------------- rows, summary, resume, plots
def test_sweep_run_tags_rows_summarises_points_and_plots_a_line_per_point(tmp_path, capsys):
    run_dir = str(tmp_path / "sweep")
    cfg = Config(env="cg_2", dag="full", num_envs=2, num_steps=5, total_steps=40, num_epochs=1, num_seeds=2,
                 updates_per_chunk=2, eval_episodes=2, eval_every=0, run_dir=run_dir, tensorboard=True,
                 sweep=("lr=1e-3,3e-4", "ent_coef=0,0.05"))
    summary = train.run(cfg)
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert len(rows) == 4 * 2 * 4  # points x seeds x updates
    points = [{"lr": 0.001, "ent_coef": 0.0}, {"lr": 0.001, "ent_coef": 0.05},
              {"lr": 0.0003, "ent_coef": 0.0}, {"lr": 0.0003, "ent_coef": 0.05}]
    assert [dict(p) for p in dict.fromkeys(tuple(r["sweep"].items()) for r in rows)] == points
    assert [(r["seed"], r["update"]) for r in rows[:4]] == [(0, 1), (0, 2), (1, 1), (1, 2)]  # chunk 1, point 1
    evals = [json.loads(line) for line in open(os.path.join(run_dir, "eval.jsonl"))]
    assert {(r["seed"], tuple(r["sweep"].items())) for r in evals} == {(s, tuple(p.items())) for p in points
                                                                       for s in (0, 1)}
    assert [e["point"] for e in summary["sweep"]] == points
    assert summary["sweep"][2]["label"] == "lr=3e-4 ent_coef=0"
    assert summary["sweep"][3]["eval"]["joint"]["return_per_seed"] == [
        r["return"] for r in evals if r["sweep"] == points[3] and r["policy"] == "joint" and not r["greedy"]]
    assert "eval" not in summary  # no mean over unlike runs
    assert os.path.isdir(os.path.join(run_dir, "tb", "lr=3e-4_ent_coef=0.05", "seed_1"))

    # the sweep is part of what a resume must match; the same values spelled otherwise are the same sweep
    with pytest.raises(UserError, match=r"cannot resume .* sweep: run has"):
        train.run(dataclasses.replace(cfg, resume=True, sweep=("lr=1e-3,3e-4",)))
    train.run(dataclasses.replace(cfg, resume=True, sweep=("lr=0.001,0.0003", "ent_coef=0.0,5e-2")))
    with pytest.raises(SystemExit) as e:  # on the command line, --sweep given again replaces the saved one
        train.main(["--run-dir", run_dir, "--resume", "--sweep", "lr=1e-3,3e-4", "--sweep", "ent_coef=0,0.1"])
    assert e.value.code == 2
    assert "sweep: run has ['lr=0.001,0.0003', 'ent_coef=0.0,0.05'], now ['lr=0.001,0.0003', 'ent_coef=0.0,0.1']" in \
        capsys.readouterr().err

    # jbn.evaluate on a sweep run: one row per run and combination, tagged
    from jbn.evaluation import cli as evaluate

    out = evaluate.run_cli(evaluate.EvalArgs(run_dir=run_dir, episodes=2, out=str(tmp_path / "e.json")))
    assert {tuple(r["sweep"].items()) for r in out["rows"]} == {tuple(p.items()) for p in points}
    # same key, same params: the CLI evaluation repeats the run's final one
    final = [r for r in evals if r["update"] == 4]
    key = lambda r: (r["seed"], tuple(r["sweep"].items()), r["policy"], r["greedy"])  # noqa: E731
    assert {key(r): r["return"] for r in out["rows"]} == {key(r): r["return"] for r in final}

    written = plot.make_figures([run_dir], str(tmp_path / "figs"), metric="reward_per_step", echo=lambda *_: None)
    assert any(p.endswith("learning_curves.csv") for p in written)
    import csv

    series = {row["series"] for row in csv.DictReader(open(tmp_path / "figs" / "learning_curves.csv"))}
    assert series == {"cg_2 full lr=1e-3 ent_coef=0", "cg_2 full lr=1e-3 ent_coef=0.05",
                      "cg_2 full lr=3e-4 ent_coef=0", "cg_2 full lr=3e-4 ent_coef=0.05"}


def test_plot_groups_a_sweep_by_point_mean_and_se_over_its_seeds(tmp_path):
    """Hand-made rows of 2 points x 3 seeds: each point's line is the mean ± s.e. of its own seeds only."""
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"env": "cg_2", "dag": "none"}))
    values = {0.001: [1.0, 2.0, 6.0], 0.0003: [10.0, 10.0, 13.0]}
    with open(run_dir / "metrics.jsonl", "w") as f:
        for lr, ys in values.items():
            for seed, y in enumerate(ys):
                f.write(json.dumps({"seed": seed, "sweep": {"lr": lr}, "update": 1, "env_steps": 10,
                                    "episode_return": y, "dag_density": 0.0}) + "\n")
    runs = plot.split_sweep(plot.load_run(str(run_dir)))
    assert [r.label for r in runs] == ["cg_2 none lr=1e-3", "cg_2 none lr=3e-4"]
    for run, ys in zip(runs, values.values()):
        c = plot.curve(run.metrics)
        assert c.n[0] == 3 and c.mean[0] == pytest.approx(np.mean(ys))
        assert c.se[0] == pytest.approx(np.std(ys, ddof=1) / np.sqrt(3))
    assert plot.point_label({"lr": 5e-4, "alpha0": 0.1, "gamma": 0.99}) == "lr=5e-4 alpha0=0.1 gamma=0.99"


# ---------------------------------------------------------------- memory, placement, multi-host arguments
def test_memory_estimate_counts_the_state_and_refuses_what_does_not_fit():
    cfg = _tiny(num_seeds=2, sweep=("lr=1e-3,3e-4",))
    trainer = tr.make_train(cfg)
    hyper = sweep.run_hypers(cfg)[0]
    real = jax.jit(trainer.init)(jax.random.PRNGKey(0), hyper)
    est = place.estimate(trainer, cfg, hyper)
    assert est.params + est.envs >= sum(x.nbytes for x in jax.tree.leaves(real))  # at least the state itself
    _, traj = jax.jit(trainer.rollout)(real)
    assert est.envs >= sum(x.nbytes for x in jax.tree.leaves(traj))  # and one rollout
    assert est.activations > 0
    per_run = est.per_device(1, 1)
    need, have, _ = place.check_memory(trainer, cfg, hyper, 4, None, lambda d: (10 * per_run, "test"))
    assert need == 4 * per_run and have == 10 * per_run
    with pytest.raises(UserError, match=r"not enough device memory: about .* per device estimated for 4 runs .* the "
                                        r"largest batch that fits is about 3 runs .*--no-memory-check"):
        place.check_memory(trainer, cfg, hyper, 4, None, lambda d: (3 * per_run + 1, "test"))
    with pytest.raises(UserError, match=r"not even one run fits: about --num-envs \d+ would"):
        place.check_memory(trainer, cfg, hyper, 4, None, lambda d: (est.params + (per_run - est.params) // 2, "test"))
    with pytest.raises(UserError, match=r"not even one run fits: its parameters and optimiser state alone .* a smaller "
                                        r"--hidden would"):
        place.check_memory(trainer, cfg, hyper, 4, None, lambda d: (est.params // 2, "test"))
    place.check_memory(trainer, dataclasses.replace(cfg, memory_check=False), hyper, 4, None, lambda d: (1, "test"))


def test_runs_that_do_not_divide_over_the_devices_are_refused():
    devices = [object()] * 4  # the divisibility checks come before any mesh is built
    with pytest.raises(UserError, match=r"3 runs \(1 sweep points x 3 seeds\) do not divide over the runs axis of 4 "
                                        r"\(= 4 devices / --data-parallel 1\).*or --data-parallel 4 \(runs axis 1\)"):
        place.make(_tiny(num_seeds=3), 3, devices)
    with pytest.raises(UserError, match=r"divisible by 4 \(--num-seeds, --sweep\) or no --data-parallel fits"):
        place.make(_tiny(num_seeds=3, num_envs=2, num_minibatches=1), 3, devices)  # 2 envs: data axis <= 2
    with pytest.raises(UserError, match=r"--data-parallel 2 or 4 \(runs axis 2, 1\)"):
        place.make(_tiny(num_seeds=2), 2, devices)
    with pytest.raises(UserError, match=r"--data-parallel 3 does not divide the 4 devices; choose one of 1, 2, 4"):
        place.make(_tiny(num_envs=3, num_minibatches=1, data_parallel=3, total_steps=3 * 8 * 10), 1, devices)
    with pytest.raises(UserError, match=r"--data-parallel 8 does not divide num_envs = 4"):
        _tiny(data_parallel=8)
    assert place.make(_tiny(), 1, jax.devices()[:1]) is None  # one device: no mesh, today's program


def test_multi_host_arguments_are_checked(monkeypatch):
    for var in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(var, raising=False)
    cfg = _tiny()
    assert place.distributed_args(cfg) is None
    with pytest.raises(UserError, match="missing --num-processes, --process-id"):
        place.distributed_args(dataclasses.replace(cfg, coordinator="localhost:1234"))
    with pytest.raises(UserError, match="expected HOST:PORT"):
        place.distributed_args(dataclasses.replace(cfg, coordinator="localhost", num_processes=2, process_id=0))
    with pytest.raises(UserError, match=r"--process-id 2 must lie in 0 .. num_processes - 1 = 1"):
        place.distributed_args(dataclasses.replace(cfg, coordinator="h:1", num_processes=2, process_id=2))
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:555")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert place.distributed_args(cfg) == ("10.0.0.1:555", 4, 3)
    assert place.distributed_args(dataclasses.replace(cfg, process_id=1)) == ("10.0.0.1:555", 4, 1)
