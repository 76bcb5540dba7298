"""Runs spread over several devices (jbn.host.placement) give the runs of one device: 4 forced CPU devices in a subprocess
(XLA_FLAGS=--xla_force_host_platform_device_count=4 must be set before jax starts, and this process's jax already
runs with one device), compared with the same config trained here on one device.

  * a sweep sharded over the runs axis == the same sweep on one device (the whole `python -m jbn.train`);
  * data-parallel over 4 devices (one run, its envs split, gradients averaged) == one device, same global batch;
  * a sharded sweep stopped half-way and resumed on another mesh == the uninterrupted sweep;
  * (slow) two processes on localhost (jax.distributed, gloo collectives), 2 devices each == one device.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jbn import train

from jbn.training import trainer as tr
from jbn.training.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# cg_2, 4 envs x 8 steps; 2 seeds x 2 learning rates = 4 runs; 8 updates in chunks of 2; evaluated at 4 and 8.
SWEEP = dict(env="cg_2", dag="full", num_envs=4, num_steps=8, num_minibatches=2, num_epochs=1, total_steps=4 * 8 * 8,
             updates_per_chunk=2, num_seeds=2, sweep=("lr=1e-3,3e-4",), eval_episodes=2, eval_every=4,
             checkpoint_every_s=0.0, keep_checkpoints=10)


def _env(devices: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli_args(cfg: dict) -> list[str]:
    args = []
    for k, v in cfg.items():
        flag = "--" + k.replace("_", "-")
        for item in (v if isinstance(v, tuple) else (v,)):
            args += [flag, str(item)]
    return args


def _train_cli(args: list[str], devices: int = 4, timeout: int = 600) -> str:
    """`python -m jbn.train ARGS` with `devices` forced CPU devices; its stderr (it must succeed)."""
    p = subprocess.run([sys.executable, "-m", "jbn.train", *args], cwd=ROOT, env=_env(devices), capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-4000:]
    return p.stderr


def _rows(run_dir, stem="metrics"):
    rows = []
    for name in sorted(os.listdir(run_dir)):
        if name == f"{stem}.jsonl" or (name.startswith(f"{stem}.p") and name.endswith(".jsonl")):
            rows += [json.loads(line) for line in open(os.path.join(run_dir, name))]
    return rows


def _by_run(rows):
    """{(seed, sweep point, update[, policy, greedy]): row}, each key once."""
    out = {}
    for r in rows:
        key = (r["seed"], tuple(sorted((r.get("sweep") or {}).items())), r["update"], r.get("policy"), r.get("greedy"))
        assert key not in out, f"row {key} twice"
        out[key] = r
    return out


def _assert_same_rows(a, b, fields=("loss_total", "loss_policy", "loss_value", "reward_per_step", "dag_density")):
    a, b = _by_run(a), _by_run(b)
    assert sorted(a) == sorted(b)
    for key in a:
        for f in fields:
            if f in a[key]:
                assert a[key][f] == pytest.approx(b[key][f], rel=1e-4, abs=1e-5), (key, f)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep trained in this process, on one device."""
    run_dir = str(tmp_path_factory.mktemp("ref") / "run")
    train.run(Config(**SWEEP, run_dir=run_dir))
    return run_dir


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """The same sweep by `python -m jbn.train` on 4 devices: one run per device (runs axis 4)."""
    run_dir = str(tmp_path_factory.mktemp("sharded") / "run")
    err = _train_cli(_cli_args(SWEEP) + ["--run-dir", run_dir])
    return run_dir, err


def test_sharded_sweep_equals_one_device(tmp_path, reference, sharded):
    run_dir, err = sharded
    assert "mesh runs 4 x data 1 over 4 cpu devices (1 runs per device)" in err
    rows = _rows(run_dir)
    assert len(rows) == 4 * 8 and {r["sweep"]["lr"] for r in rows} == {0.001, 0.0003}
    _assert_same_rows(rows, _rows(reference))
    _assert_same_rows(_rows(run_dir, "eval"), _rows(reference, "eval"), fields=("return", "length", "dag_density"))
    # its checkpoint (4 devices), evaluated here on one device: the run's own final evaluation again
    from jbn.evaluation import cli as evaluate

    out = evaluate.run_cli(evaluate.EvalArgs(run_dir=run_dir, episodes=SWEEP["eval_episodes"],
                                             out=str(tmp_path / "e.json")))
    final = [r for r in _rows(run_dir, "eval") if r["update"] == 8]
    _assert_same_rows(out["rows"], final, fields=("return", "length", "dag_density"))


def test_resume_of_a_sharded_sweep_on_another_mesh_equals_the_uninterrupted_sweep(tmp_path, reference, sharded):
    """Half the sweep on a (runs 4 x data 1) mesh, then resumed on (runs 2 x data 2): the checkpoint holds the
    whole batch and is restored into the other shardings."""
    run_dir = str(tmp_path / "run")
    half = dict(SWEEP, total_steps=SWEEP["total_steps"] // 2, eval_episodes=0)  # (evaluation: the test above)
    del half["eval_every"]  # (refused without evaluation: it could not act)
    _train_cli(_cli_args(half) + ["--run-dir", run_dir])
    err = _train_cli(["--run-dir", run_dir, "--resume", "--total-steps", str(SWEEP["total_steps"]),
                      "--data-parallel", "2"])
    assert "mesh runs 2 x data 2" in err and "resumed at update 4 of 8" in err
    rows = _rows(run_dir)
    assert sorted({r["update"] for r in rows}) == list(range(1, 9)) and len(rows) == 4 * 8
    _assert_same_rows(rows, _rows(sharded[0]))
    _assert_same_rows(rows, _rows(reference))


DATA_PARALLEL = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from jbn import train
    from jbn.host import placement as place
    from jbn.training import sweep, trainer as tr
    from jbn.training.config import Config, resolve

    cfg = resolve(Config(**json.loads(sys.argv[1])))
    pl = place.make(cfg, cfg.num_runs)
    trainer = tr.make_train(cfg, mesh=pl.mesh)
    state = tr.init_runs(trainer.init, tr.run_keys(cfg), sweep.run_hypers(cfg))
    shardings = pl.state_shardings(state)
    state = pl.put(state, shardings)
    fn = jax.jit(tr.over_runs(trainer.update_chunk, cfg.num_runs, place.RUNS), in_shardings=(shardings,),
                 out_shardings=(shardings, pl.runs_sharding()))
    compiled = fn.lower(state).compile()
    hlo = compiled.as_text()
    out = []
    for _ in range(cfg.num_chunks):
        state, m = compiled(state)
        out.append(jax.device_get(m))
    m = jax.tree.map(lambda *x: np.concatenate(x, 1).tolist(), *out)
    env_leaf = jax.tree.leaves(state.env_state)[0]
    print(json.dumps({"mesh": dict(pl.mesh.shape), "all_reduce": hlo.count("all-reduce"),
                      "env_shards": sorted({tuple(s.data.shape) for s in env_leaf.addressable_shards}),
                      "env_shape": list(env_leaf.shape), "loss_total": m.loss.total,
                      "reward_per_step": m.reward_per_step, "dag_density": m.dag_density, "alpha": m.alpha}))
""")


@pytest.mark.parametrize("recurrent", ["none", pytest.param("gru", marks=pytest.mark.slow)])
def test_data_parallel_over_4_devices_equals_one_device(recurrent):
    """One context-DAG run (with annealing) whose 8 envs are split over 4 devices: the same metrics as on one
    device with the same 8 envs; the envs really are split (2 per device) and the program really all-reduces. A
    recurrent policy's minibatches (of envs, whole sequences) are split over the devices likewise."""
    cfg = dict(env="cg_2", dag="context", anneal="6h_vs_8z", num_envs=8, num_steps=8, num_minibatches=2,
               num_epochs=2, total_steps=8 * 8 * 6, updates_per_chunk=3, eval_episodes=0, checkpoint=False,
               data_parallel=4, recurrent=recurrent)
    p = subprocess.run([sys.executable, "-c", DATA_PARALLEL, json.dumps(cfg)], cwd=ROOT, env=_env(4),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["mesh"] == {"runs": 1, "data": 4}
    assert got["env_shape"][:2] == [1, 8] and [s[:2] for s in got["env_shards"]] == [[1, 2]]
    assert got["all_reduce"] > 0  # gradients (and batch statistics) averaged across the data axis
    from jbn.training.config import resolve

    one = resolve(Config(**{**cfg, "data_parallel": 1}))
    trainer = tr.make_train(one)
    state = tr.init_runs(trainer.init, tr.run_keys(one))
    chunk = __import__("jax").jit(tr.over_runs(trainer.update_chunk, 1))
    ref = []
    for _ in range(one.num_chunks):
        state, m = chunk(state)
        ref.append(m)
    for name in ("reward_per_step", "dag_density", "alpha"):
        np.testing.assert_allclose(got[name], np.concatenate([getattr(m, name) for m in ref], 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["loss_total"], np.concatenate([m.loss.total for m in ref], 1), rtol=1e-4,
                               atol=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_on_localhost_equal_one_device(tmp_path, reference):
    """Multi-host on one machine: 2 processes x 2 forced CPU devices (jax.distributed, gloo collectives), the 4 runs
    over the 4 devices of both, each process logging its own 2 runs. Half the sweep, then both processes resume it
    from their multi-process checkpoint: together they equal one device."""
    run_dir = str(tmp_path / "run")

    def train_on_two_processes(args):
        port = _free_port()
        procs = [subprocess.Popen([sys.executable, "-m", "jbn.train", *args, "--coordinator", f"localhost:{port}",
                                   "--num-processes", "2", "--process-id", str(i)], cwd=ROOT, env=_env(2),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        outs = [p.communicate(timeout=900) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, err[-4000:]
        return outs[0][1]

    half = dict(SWEEP, total_steps=SWEEP["total_steps"] // 2)
    err = train_on_two_processes(_cli_args(half) + ["--run-dir", run_dir])
    assert "mesh runs 4 x data 1 over 4 cpu devices on 2 processes" in err
    err = train_on_two_processes(["--run-dir", run_dir, "--resume", "--total-steps", str(SWEEP["total_steps"])])
    assert "resumed at update 4 of 8" in err
    p0 = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    p1 = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.p1.jsonl"))]
    assert {r["sweep"]["lr"] for r in p0} == {0.001} and {r["sweep"]["lr"] for r in p1} == {0.0003}
    _assert_same_rows(p0 + p1, _rows(reference))
    _assert_same_rows(_rows(run_dir, "eval"), _rows(reference, "eval"), fields=("return", "length"))
    assert json.load(open(os.path.join(run_dir, "summary.json")))["sweep"][1]["point"] == {"lr": 0.0003}
