"""Host-side run outputs (jbn/host/logging.py): rows from the metrics' own fields, TensorBoard events read back with
TensorBoard's reader, plain progress lines that fit 80 columns, and a silent import."""
import io
import json
import subprocess
import sys
from typing import NamedTuple

import numpy as np
import pytest
from rich.console import Console

from jbn.host import logging as runlog
from jbn.training.config import Config, resolve


class _Loss(NamedTuple):
    total: np.ndarray
    entropy: np.ndarray
    brand_new_term: np.ndarray  # a field this module has never heard of


class _Metrics(NamedTuple):
    update: np.ndarray
    env_steps: np.ndarray
    episode_return: np.ndarray
    win_rate: np.ndarray
    reward_per_step: np.ndarray
    dag_density: np.ndarray
    eta: np.ndarray
    alpha: np.ndarray
    loss: _Loss


def _metrics(first_update=1, seeds=2, k=3, batch=10):
    u = np.arange(first_update, first_update + k, dtype=np.int32)[None].repeat(seeds, 0)
    f = lambda base: (base + 0.1 * np.arange(seeds)[:, None] + 0.01 * u).astype(np.float32)  # noqa: E731
    ret = f(1.0)
    ret[1, 0] = np.nan  # no episode ended
    return _Metrics(update=u, env_steps=u * batch, episode_return=ret, win_rate=f(0.0), reward_per_step=f(2.0),
                    dag_density=f(0.5), eta=f(1.0), alpha=f(0.0),
                    loss=_Loss(total=f(3.0), entropy=f(0.7), brand_new_term=f(9.0)))


def test_rows_come_from_the_metrics_fields():
    m = _metrics()
    rows = runlog.metrics_rows(m, first_seed=5, has_win=False, sps=123.0)
    assert len(rows) == 6 and [r["seed"] for r in rows] == [5, 5, 5, 6, 6, 6]
    assert set(rows[0]) == {"seed", "update", "env_steps", "episode_return", "reward_per_step", "dag_density", "eta",
                            "alpha", "loss_total", "loss_entropy", "loss_brand_new_term", "sps"}
    assert rows[4]["update"] == 2 and isinstance(rows[4]["update"], int)
    assert rows[3]["episode_return"] is None  # NaN -> null
    assert rows[4]["loss_brand_new_term"] == pytest.approx(9.0 + 0.1 + 0.02)
    assert "win_rate" in runlog.metrics_rows(m, 0, has_win=True)[0]


def _cfg(tmp_path, **kw):
    return resolve(Config(env="cg_2", dag="context", num_envs=2, num_steps=5, total_steps=100, num_seeds=2,
                          run_dir=str(tmp_path), eval_episodes=0, **kw))


def test_tensorboard_events_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _cfg(tmp_path, tensorboard=True)
    console = Console(file=io.StringIO(), width=80)
    with runlog.RunLogger(str(tmp_path), cfg, has_win=False, learns_dag=True, console=console) as log:
        log.chunk(_metrics(), seconds=0.5)
        log.evaluation([{"update": 3, "env_steps": 30, "seed": 1, "policy": "decentralized", "greedy": True,
                         "return": 4.5, "length": 25.0, "episodes": 8}])
    ea = EventAccumulator(str(tmp_path / "tb" / "seed_1"))
    ea.Reload()
    got = [(e.step, e.value) for e in ea.Scalars("train/loss_total")]
    np.testing.assert_allclose(got, [(10, 3.11), (20, 3.12), (30, 3.13)], rtol=1e-6)
    assert [(e.step, e.value) for e in ea.Scalars("eval/decentralized_greedy/return")] == [(30, 4.5)]
    assert "train/episode_return" in ea.Tags()["scalars"]
    ea0 = EventAccumulator(str(tmp_path / "tb" / "seed_0"))
    ea0.Reload()
    np.testing.assert_allclose([e.value for e in ea0.Scalars("train/dag_density")], [0.51, 0.52, 0.53], rtol=1e-6)
    # and the same rows in metrics.jsonl
    rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [r["loss_total"] for r in rows if r["seed"] == 1] == pytest.approx([3.11, 3.12, 3.13])


def test_piped_progress_is_plain_lines_under_80_columns(tmp_path):
    out = io.StringIO()
    cfg = resolve(Config(env="smax_6h_vs_8z", dag="context", num_seeds=2, run_dir=str(tmp_path), eval_episodes=0))
    with runlog.RunLogger(str(tmp_path), cfg, has_win=True, learns_dag=True, console=Console(file=out, width=80)) as log:
        m = _metrics(seeds=2, k=2, batch=cfg.batch_size)
        m = m._replace(episode_return=m.episode_return * 1000.0)
        log.chunk(m, seconds=12.3)
        log.evaluation([{"update": 2, "env_steps": 2 * cfg.batch_size, "seed": s, "policy": p, "greedy": g,
                         "return": 1.9, "win_rate": 0.97, "length": 60.0, "episodes": 32}
                        for s in (0, 1) for p in ("joint", "decentralized") for g in (False, True)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert all(len(line) < 80 for line in lines), lines
    assert "win" in lines[0] and "η 1.02 α 0.02" in lines[0] and "sps" in lines[0] and "ETA" in lines[0]
    assert lines[1].startswith("eval @16.4k joint 1.9/0.97 dec 1.9/0.97")


def test_importing_the_project_prints_nothing():
    out = subprocess.run([sys.executable, "-c", "import envs_jax, jbn.train, jbn.evaluate, jbn.plot, jbn.tabular"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
