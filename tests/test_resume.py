"""Runs that cannot lose or mix data: resume by update count, config changes refused before compile, unique
run directories, damaged files survived or named, every user error a message with exit code 2."""
import dataclasses
import json
import os

import numpy as np
import pytest

from jbn.host import checkpoint as ckpt
from jbn.host import rundir
from jbn import train
from jbn.training.config import Config, UserError, resolve

# cg_2, 2 envs x 5 steps = 10 env steps per update.
BASE = dict(env="cg_2", dag="none", num_envs=2, num_steps=5, num_epochs=1, eval_episodes=0, checkpoint_every_s=0.0)


def _cfg(run_dir, **kw):
    return Config(**{**BASE, "run_dir": str(run_dir), **kw})


def _rows(run_dir):
    return [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]


def _files(run_dir):
    """Every file under run_dir with its bytes (to check that a refused command touched nothing)."""
    out = {}
    for dirpath, _, names in os.walk(run_dir):
        for n in names:
            p = os.path.join(dirpath, n)
            out[p] = open(p, "rb").read()
    return out


def test_resume_with_other_chunking_and_longer_run_trains_each_update_once(tmp_path):
    """The issue's case: 8 updates, then resumed to 80 with another chunk size, ends at exactly 80 updates and
    equals the uninterrupted 80-update run; resuming the finished run with a third chunk size changes nothing."""
    full, part = tmp_path / "full", tmp_path / "part"
    train.run(_cfg(full, total_steps=800, updates_per_chunk=8))
    train.run(_cfg(part, total_steps=80, updates_per_chunk=4))
    assert ckpt.list_updates(part) == [8, 4]  # named by update count
    train.run(_cfg(part, total_steps=800, updates_per_chunk=9, resume=True))  # 72 remaining = 8 chunks of 9
    a, b = _rows(full), _rows(part)
    assert [r["update"] for r in b] == list(range(1, 81))
    assert b[-1]["env_steps"] == 800
    np.testing.assert_allclose([r["loss_total"] for r in a], [r["loss_total"] for r in b], rtol=1e-5)
    before = _rows(part)
    train.run(_cfg(part, total_steps=800, updates_per_chunk=5, resume=True))
    assert _rows(part) == before
    assert ckpt.list_updates(part)[0] == 80
    with pytest.raises(UserError, match="already done 80 updates, more than total_steps = 400 allows"):
        train.run(_cfg(part, total_steps=400, resume=True))
    assert _rows(part) == before


def test_default_chunk_size_on_resume_divides_what_remains(tmp_path):
    train.run(_cfg(tmp_path, total_steps=60, updates_per_chunk=2))
    train.run(Config(**{**BASE, "run_dir": str(tmp_path), "total_steps": 130, "resume": True}))  # 7 left
    assert [r["update"] for r in _rows(tmp_path)] == list(range(1, 14))


def test_refused_resume_names_the_field_and_touches_nothing(tmp_path):
    ctx = _cfg(tmp_path, dag="context", anneal="6h_vs_8z", total_steps=40, updates_per_chunk=2)
    train.run(ctx)
    before = _files(tmp_path)
    with pytest.raises(UserError, match=r"total_steps: run has 40, now 80 .*annealing schedule"):
        train.run(dataclasses.replace(ctx, total_steps=80, resume=True))
    with pytest.raises(UserError, match=r"num_envs: run has 2, now 4"):
        train.run(dataclasses.replace(ctx, num_envs=4, resume=True))
    with pytest.raises(UserError, match=r"grad_clip: run has 'per_network', now 'global'"):
        train.run(dataclasses.replace(ctx, grad_clip="global", resume=True))
    assert _files(tmp_path) == before


def test_resume_free_fields_are_listed():
    # The fields a resume may change: none of them enters the compiled update or the η/α schedule.
    assert ckpt.RESUME_FREE == {"resume", "run_dir", "checkpoint", "checkpoint_every_s", "keep_checkpoints",
                                "eval_episodes", "eval_every", "absolute_episodes", "tensorboard", "updates_per_chunk"}
    cfg_fields = {f.name for f in dataclasses.fields(Config)}
    assert ckpt.RESUME_FREE <= cfg_fields


def test_default_run_dirs_are_unique_and_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = resolve(Config(**{**BASE, "total_steps": 20}))
    dirs = {rundir.new_run_dir(cfg) for _ in range(3)}  # same second
    assert len(dirs) == 3 and all(os.path.isdir(d) for d in dirs)


def test_resume_of_a_missing_dir_creates_nothing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(UserError, match="does not exist; nothing to resume"):
        train.run(_cfg(missing, total_steps=20, resume=True))
    assert not missing.exists()


def test_torn_metrics_line_is_dropped_on_resume(tmp_path):
    train.run(_cfg(tmp_path, total_steps=40, updates_per_chunk=2))
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"seed": 0, "update": 5, "env_st')  # a kill mid-write
    train.run(_cfg(tmp_path, total_steps=80, updates_per_chunk=2, resume=True))
    assert [r["update"] for r in _rows(tmp_path)] == list(range(1, 9))


# one kind of damage in the default run, the others with -m slow (the fallback is the same code for all three)
@pytest.mark.parametrize("damage", ["flip_byte", pytest.param("drop_manifest", marks=pytest.mark.slow),
                                    pytest.param("truncate", marks=pytest.mark.slow)])
def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, damage, capsys):
    ref = tmp_path / "ref"
    train.run(_cfg(ref, total_steps=80, updates_per_chunk=2))
    run = tmp_path / "run"
    train.run(_cfg(run, total_steps=60, updates_per_chunk=2))
    newest = os.path.join(ckpt.root(run), "6")
    if damage == "drop_manifest":
        os.remove(os.path.join(newest, ckpt.MANIFEST))
    else:  # alter the largest data file: same size with one flipped byte, or cut short
        files = [os.path.join(d, n) for d, _, ns in os.walk(newest) for n in ns if n != ckpt.MANIFEST]
        target = max(files, key=os.path.getsize)
        data = bytearray(open(target, "rb").read())
        if damage == "flip_byte":
            data[len(data) // 2] ^= 0xFF
        else:
            data = data[: len(data) // 2]
        open(target, "wb").write(bytes(data))
    assert ckpt.verify(newest) is not None
    train.run(_cfg(run, total_steps=80, updates_per_chunk=2, resume=True))
    err = capsys.readouterr().err
    assert "is damaged" in err and "resumed at update 4" in err
    a, b = _rows(ref), _rows(run)
    assert [r["update"] for r in b] == list(range(1, 9))
    np.testing.assert_allclose([r["loss_total"] for r in a], [r["loss_total"] for r in b], rtol=1e-5)


def test_checkpoints_keep_the_newest_k(tmp_path):
    train.run(_cfg(tmp_path, total_steps=100, updates_per_chunk=2, keep_checkpoints=2))
    assert ckpt.list_updates(tmp_path) == [10, 8]
    assert all(ckpt.verify(os.path.join(ckpt.root(tmp_path), str(u))) is None for u in (10, 8))
    assert not [n for n in os.listdir(ckpt.root(tmp_path)) if n.startswith(".tmp")]


def test_checkpoints_by_time_write_only_the_last(tmp_path):
    train.run(_cfg(tmp_path, total_steps=100, updates_per_chunk=2, checkpoint_every_s=3600.0))
    assert ckpt.list_updates(tmp_path) == [10]


# ------------------------------------------------------------------------ user errors: message, exit 2
def _main_error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        train.main(argv)
    assert e.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--lr", "inf"], "lr must be a finite number, got inf"),
        (["--ent-coef", "nan"], "ent_coef must be a finite number, got nan"),
        (["--updates-per-chunk", "3"], r"updates_per_chunk = 3 does not divide the 4 updates.*1, 2, 4"),
        (["--dag", "context", "--anneal", "slow"], None),  # tyro rejects a Literal choice itself (exit 2)
    ],
)
def test_bad_values_exit_2_with_a_message(extra, match, capsys, tmp_path):
    err = _main_error(["--env", "cg_2", "--num-envs", "2", "--num-steps", "5", "--total-steps", "40",
                       "--run-dir", str(tmp_path / "r")] + extra, capsys)
    if match:
        assert "Traceback" not in err and "error: " in err
        assert __import__("re").search(match, err), err
    assert not (tmp_path / "r").exists()


def test_run_dir_errors_exit_2(tmp_path, capsys):
    args = ["--env", "cg_2", "--dag", "none", "--num-envs", "2", "--num-steps", "5", "--total-steps", "40",
            "--num-epochs", "1", "--eval-episodes", "0"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "is a file, not a directory" in _main_error(args + ["--run-dir", str(afile)], capsys)
    assert "cannot create --run-dir" in _main_error(args + ["--run-dir", str(afile / "sub")], capsys)
    assert "nothing to resume" in _main_error(args + ["--run-dir", str(tmp_path / "gone"), "--resume"], capsys)
    run_dir = str(tmp_path / "r")
    train.main(args + ["--run-dir", run_dir])
    assert "already holds checkpoints; pass --resume" in _main_error(args + ["--run-dir", run_dir], capsys)
    err = _main_error(args + ["--run-dir", run_dir, "--resume", "--num-envs", "4", "--num-minibatches", "1"], capsys)
    assert "num_envs: run has 2, now 4" in err and "Traceback" not in err


def test_a_run_dir_in_use_is_refused(tmp_path):
    cfg = resolve(_cfg(tmp_path, total_steps=20))
    fd = rundir.lock(str(tmp_path))
    try:
        with pytest.raises(UserError, match="in use by another training process"):
            rundir.lock(str(tmp_path))
    finally:
        os.close(fd)
    assert cfg.run_dir == str(tmp_path)
