"""Stopping a training process: Ctrl-C checkpoints the last completed chunk and says how to resume; SIGKILL at
any moment leaves a loadable checkpoint; either way `--run-dir R --resume` alone finishes the run exactly as
an uninterrupted one would have."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jbn.host import checkpoint as ckpt
from jbn import train
from jbn.training.config import Config

# 4000 updates of cg_2 (2 envs x 5 steps) in chunks of 4: long enough to be stopped half-way.
ARGS = ["--env", "cg_2", "--dag", "none", "--num-envs", "2", "--num-steps", "5", "--num-epochs", "1",
        "--total-steps", "40000", "--updates-per-chunk", "4", "--eval-episodes", "0"]


def _start(run_dir, *extra):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "jbn.train", *ARGS, "--run-dir", str(run_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_rows(run_dir, proc, n, timeout=120):
    path = os.path.join(run_dir, "metrics.jsonl")
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.communicate()}")
        if os.path.exists(path) and sum(1 for _ in open(path)) >= n:
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("training did not log in time")


def _losses(run_dir):
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert [r["update"] for r in rows] == list(range(1, 4001))
    return [r["loss_total"] for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ref")
    train.run(Config(env="cg_2", dag="none", num_envs=2, num_steps=5, num_epochs=1, total_steps=40_000,
                     updates_per_chunk=4, eval_episodes=0, checkpoint=False, run_dir=str(run_dir)))
    return _losses(run_dir)


def _resume(run_dir):
    # Everything comes from the run's config.json; only the checkpoint timer is changed (a free field).
    out = subprocess.run([sys.executable, "-m", "jbn.train", "--run-dir", str(run_dir), "--resume",
                          "--checkpoint-every-s", "3600"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def test_ctrl_c_checkpoints_and_resume_matches_the_uninterrupted_run(tmp_path, reference):
    run_dir = tmp_path / "run"
    proc = _start(run_dir, "--checkpoint-every-s", "3600")
    _wait_for_rows(run_dir, proc, 40)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
    assert "SIGINT: finishing the chunk in flight" in err
    assert f"resume: python -m jbn.train --run-dir {run_dir} --resume" in err
    stopped = ckpt.list_updates(run_dir)
    assert len(stopped) == 1 and 0 < stopped[0] < 4000  # written on the way out, not by the timer
    assert ckpt.verify(os.path.join(ckpt.root(run_dir), str(stopped[0]))) is None
    rows = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    assert rows[-1]["update"] == stopped[0]  # the log and the checkpoint agree
    out = _resume(run_dir)
    assert f"resumed at update {stopped[0]} of 4000" in out.stderr
    np.testing.assert_allclose(_losses(run_dir), reference, rtol=1e-5)


def test_sigkill_leaves_a_loadable_checkpoint(tmp_path, reference):
    run_dir = tmp_path / "run"
    proc = _start(run_dir, "--checkpoint-every-s", "0")  # a checkpoint after every chunk: kill lands mid-write
    _wait_for_rows(run_dir, proc, 60)
    time.sleep(0.37)
    proc.kill()
    proc.communicate(timeout=60)
    good = ckpt.find_good(str(run_dir), warn=lambda msg: None)
    assert good, os.listdir(ckpt.root(run_dir))
    _resume(run_dir)
    np.testing.assert_allclose(_losses(run_dir), reference, rtol=1e-5)
