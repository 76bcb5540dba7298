"""Faults at the edges of the run's envelope (issue 23): a full disk, an impossible size, a flag that cannot act,
and GPU determinism asked for. Each case fails cleanly: one `error:` line, exit code 2, nothing lost or created."""
import errno
import re
import json
import os
import subprocess
import uuid

import jax
import jax.numpy as jnp
import pytest
from jax import stages

from jbn.host import checkpoint as ckpt
from jbn.host import rundir
from jbn import train
from jbn.training.config import DETERMINISTIC_XLA_OPTIONS, Config, UserError, compiler_options, resolve
from jbn.host.disk import is_disk_error

# cg_2, 2 envs x 5 steps: 10 env steps an update, a checkpoint after every chunk of 4 (about 0.2 MiB each)
TINY = dict(env="cg_2", dag="none", num_envs=2, num_steps=5, num_epochs=1, eval_episodes=0, updates_per_chunk=4,
            checkpoint_every_s=0.0)


# ------------------------------------------------------------------------------------------------ a full disk
@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root can mount one; skipped where mounting is not allowed), unmounted afterwards: room for
    the run's kept checkpoints and one being written once the filler is gone."""
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here ({r.stderr.strip() or r.returncode})")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(disk, leave_bytes: int):
    """A filler file that leaves about `leave_bytes` free on `disk`."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    path = disk / "filler"
    with open(path, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return path


def _updates(run_dir):
    return [json.loads(line)["update"] for line in open(os.path.join(run_dir, "metrics.jsonl"))]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's closed event loop, at gc
@pytest.mark.parametrize("leave_kib", [400, 120])
def test_a_full_disk_stops_with_one_error_and_loses_nothing(small_disk, capfd, leave_kib):
    """400 KiB: the first checkpoint fits, a later one does not (refused before orbax starts, from the last
    checkpoint's size); 120 KiB: the very first fails inside orbax, whose threads' tracebacks are held back.
    Either way: UserError naming the directory and the space, no traceback, the newest complete checkpoint and
    every logged line intact, no partial checkpoint; a resume on the still-full disk says the same; once space is
    freed the resume finishes with every update logged once."""
    run_dir = str(small_disk / "run")
    filler = _fill(small_disk, leave_kib * 1024)
    cfg = Config(**TINY, total_steps=400, run_dir=run_dir)
    with pytest.raises(UserError, match=r"cannot write the checkpoint of update \d+ in .*its filesystem is full "
                                        r"\(\d+ KiB free; it needs about .*then continue with: python -m jbn.train"):
        train.run(cfg)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "RESOURCE_EXHAUSTED" not in err
    good = ckpt.find_good(run_dir, warn=pytest.fail)  # every checkpoint left is complete
    assert not [n for n in os.listdir(ckpt.root(run_dir)) if n.startswith(".tmp")]
    logged = _updates(run_dir)
    assert logged == list(range(1, len(logged) + 1)) and len(logged) >= (good[0][0] if good else 0)
    if leave_kib == 400:
        assert good, "the first checkpoint fitted"
    with pytest.raises(UserError, match="its filesystem is full"):
        train.run(Config(run_dir=run_dir, resume=True, **{**TINY, "total_steps": 400}))
    assert "Traceback" not in capfd.readouterr().err
    os.remove(filler)
    train.run(Config(run_dir=run_dir, resume=True, **{**TINY, "total_steps": 400}))
    assert _updates(run_dir) == list(range(1, 41))


def test_disk_errors_are_recognised_whatever_their_form(tmp_path):
    assert is_disk_error(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_error(OSError(errno.EROFS, "Read-only file system"))
    wrapped = RuntimeError("commit failed")
    wrapped.__cause__ = ValueError("RESOURCE_EXHAUSTED: Error writing ... [os_error_code='28']")
    assert is_disk_error(wrapped)
    assert not is_disk_error(OSError(errno.ENOENT, "No such file or directory"))
    with pytest.raises(rundir.DiskError, match=r"cannot write summary.json in .*: its filesystem is read-only"):
        with rundir.writing(str(tmp_path), "summary.json"):
            raise OSError(errno.EROFS, "Read-only file system")
    with pytest.raises(KeyError):  # anything else passes through unchanged
        with rundir.writing(str(tmp_path), "summary.json"):
            raise KeyError("x")


# ------------------------------------------------------------------------------------------------ impossible sizes
@pytest.mark.parametrize("argv,match", [
    (["--num-seeds", "1000000000"], r"1000000000 runs .* the largest batch that fits is about \d+ runs"),
    (["--sweep", "lr=" + ",".join(f"{1e-4 * (1 + k / 1000):.7g}" for k in range(1000)),
      "--sweep", "gamma=" + ",".join(f"{0.9 + k / 1e4:.4g}" for k in range(1000))], r"1000000 runs"),
    (["--num-envs", "80000000", "--total-steps", "2000000000"], r"not even one run fits: about --num-envs \d+ would"),
    (["--num-steps", "60000000", "--total-steps", "2000000000"], r"not even one run fits"),
    (["--hidden", "10000000"], r"parameters and optimiser state alone take .* a smaller --hidden would"),
    (["--eval-episodes", "1000000000"], r"the evaluation's 1000000000 episodes need .* --eval-episodes \d+ would"),
    (["--total-steps", str(2**31)], r"the step counters are int32"),
])
def test_an_impossible_size_is_refused_from_shapes_before_anything_is_created(tmp_path, monkeypatch, capsys, argv,
                                                                              match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        train.main(["--env", "cg_2", "--run-dir", "r", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert re.search(match, err), err
    assert os.listdir(tmp_path) == []  # no run directory, no runs/


# ------------------------------------------------------------------------------------------------ idle flags
@pytest.mark.parametrize("kw,match", [
    (dict(env="smax_3m", dag="full", anneal="6h_vs_8z"), r"--anneal 6h_vs_8z: .*learned DAG only.*'full'"),
    (dict(env="cg_2", dag="none", anneal="none"), r"--anneal none: "),
    (dict(env="cg_2", dag="full", sinkhorn_iters=5), r"--sinkhorn-iters 5: .*learned order.*dag is 'full'"),
    (dict(env="smax_3m", dag="context", sinkhorn_iters=5), r"--sinkhorn-iters 5: .*the order is fixed"),
    (dict(env="cg_2", dag="line", learn_order=True), r"--learn-order: .*--dag context"),
    (dict(env="aloha_10", dag="full", deepset_edges=True), r"--deepset-edges: "),
    (dict(env="cg_2", dag="full", mask_invisible_parents=True), r"--mask-invisible-parents: .*cg_2 has no visibility"),
    (dict(env="cg_2", dag="full", edge_prior=0.95), r"--edge-prior 0.95: the edge net exists only with --dag context"),
    (dict(env="smax_3m", dag="none", mask_invisible_parents=True), r"--mask-invisible-parents: .*no agent has parents"),
    (dict(env="aloha_10", dag="none", parent_obs=True), r"--parent-obs: "),
    (dict(env="cg_2", eval_episodes=0, eval_every=5), r"--eval-every 5: eval_episodes is 0"),
])
def test_a_flag_that_cannot_act_is_refused_with_the_reason(kw, match):
    with pytest.raises(UserError, match=match):
        resolve(Config(**kw))


def test_flags_that_act_are_accepted_and_a_resumed_config_is_not_rechecked():
    resolve(Config(env="cg_2", dag="context", sinkhorn_iters=5, learn_order=True, anneal="6h_vs_8z"))
    resolve(Config(env="smax_3m", dag="full", mask_invisible_parents=False))
    resolve(Config(env="aloha_10", dag="line", parent_obs=True))
    # a saved config is fully resolved (anneal filled in for dag=full): resuming it must not trip the checks
    saved = resolve(Config(env="smax_3m", dag="full"))
    assert saved.anneal == "6h_vs_8z"
    resolve(Config(**{**{f: getattr(saved, f) for f in saved.__dataclass_fields__}, "resume": True,
                      "run_dir": "x", "updates_per_chunk": None}))


# ------------------------------------------------------------------------------------------------ determinism
def test_the_deterministic_options_are_xla_options():
    """XLA parses the names: compiling with them works, a misspelled one is refused by XLA itself."""
    opts = compiler_options(Config(deterministic=True))
    assert opts == DETERMINISTIC_XLA_OPTIONS and compiler_options(Config()) is None
    f = jax.jit(lambda x: jnp.sum(x * x))
    assert float(f.lower(jnp.ones(3)).compile(opts)(jnp.ones(3))) == 3.0
    with pytest.raises(Exception, match="No such compile option"):
        f.lower(jnp.ones(3)).compile({**opts, "xla_gpu_deterministic_opz": True})


def test_deterministic_reaches_every_compile_and_config_json(tmp_path, monkeypatch):
    seen = []
    original = stages.Lowered.compile

    def spy(self, compiler_options=None, **kw):
        seen.append(compiler_options)
        return original(self, compiler_options, **kw)

    monkeypatch.setattr(stages.Lowered, "compile", spy)
    base = dict(TINY, total_steps=80, eval_episodes=2)
    plain = train.run(Config(**base, run_dir=str(tmp_path / "plain")))
    assert seen == [None]
    det = train.run(Config(**base, run_dir=str(tmp_path / "det"), deterministic=True))
    assert seen[1:] == [DETERMINISTIC_XLA_OPTIONS]  # the training chunk
    assert json.loads((tmp_path / "det" / "config.json").read_text())["deterministic"] is True
    rows = lambda d: [{k: v for k, v in json.loads(line).items() if k != "sps"}  # noqa: E731
                      for line in open(tmp_path / d / "metrics.jsonl")]
    assert rows("det") == rows("plain")  # on the CPU the options change nothing
    assert det["eval"] == plain["eval"]


def test_the_evaluator_compiles_with_the_run_options():
    from jbn.training import trainer
    from jbn.evaluation import make_evaluator

    cfg = resolve(Config(**TINY, total_steps=80, deterministic=True))
    tr = trainer.make_train(cfg)
    assert make_evaluator(cfg, tr.policy, tr.env, 2).compiler_options == DETERMINISTIC_XLA_OPTIONS



def test_a_run_directory_that_disappears_is_named(tmp_path):
    gone = tmp_path / "gone"
    with pytest.raises(rundir.DiskError, match=r"the run directory .*gone.* is gone \(deleted, or its filesystem"):
        with rundir.writing(str(gone), "metrics.jsonl"):
            open(gone / "metrics.jsonl", "a")
