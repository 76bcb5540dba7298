"""Same seed, same numbers, across versions of the code: two short runs and a resume from a checkpoint written by
the reference code (tests/golden/ref/<machine>/, made by tests/golden/make_golden.py; machine.json's `commits`:
b5299a7, or the commit that last changed a run's numbers by design where it changed them on that machine) must give
today the very metrics.jsonl, eval.jsonl and summary.json that code wrote, bit for bit (JSON floats printed from
float32).

XLA's CPU code is generated for the processor it runs on, so another processor may round differently: each machine
has its own copy of the reference, computed there by the same reference commits, and the comparison uses the one
whose CPU feature flags and jax match this machine's. Elsewhere it is skipped, saying so and how to make one
(`python tests/golden/make_golden.py --add-machine`)."""
import dataclasses
import importlib.util
import json
import os
import shutil

import jax
import pytest

from jbn import train
from jbn.training.config import Config

_spec = importlib.util.spec_from_file_location(
    "make_golden", os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "make_golden.py"))
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)
# This machine's reference: the directory whose machine.json has this machine's CPU flags and jax.
HERE = make_golden.reference_for(make_golden.cpu_flags_sha256(), jax.__version__)
MACHINE = json.load(open(os.path.join(HERE, "machine.json"))) if HERE else {}
# Written by the run's timing or place, not by its computation.
VOLATILE = {"sps", "compile_s", "run_dir"}
# Fields added to the rows since the reference was written (every evaluation row's per-episode `returns`, and
# `wins` where the env has wins): not in the reference, so not compared; every field the reference has is.
ADDED = {"returns", "wins"}

pytestmark = pytest.mark.skipif(HERE is None, reason=make_golden.no_reference_message(
    make_golden.cpu_flags_sha256(), jax.__version__))


def _reference(name):
    """This machine's copy of the run; a run written again by design on another machine has none until made here."""
    path = os.path.join(HERE, name)
    if not os.path.isdir(path):
        pytest.skip(f"{HERE} has no {name}: its numbers were changed by design and written on another machine "
                    f"(machine.json there); make it here with `python tests/golden/make_golden.py --add-machine`")
    return path


def _read(run_dir):
    out = {}
    for stem in ("metrics", "eval"):
        out[stem] = [{k: v for k, v in json.loads(line).items() if k not in VOLATILE | ADDED}
                     for line in open(os.path.join(run_dir, f"{stem}.jsonl"))]
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    out["summary"] = {k: v for k, v in summary.items() if k not in VOLATILE}
    return out


def _config(name, run_dir, **kw):
    return Config(**make_golden.RUNS[name], run_dir=str(run_dir), checkpoint_every_s=0.0, keep_checkpoints=100, **kw)


@pytest.mark.parametrize("name", sorted(make_golden.RUNS))
def test_a_run_repeats_the_reference_outputs(tmp_path, name):
    reference = _reference(name)
    train.run(_config(name, tmp_path / name))
    assert _read(tmp_path / name) == _read(reference)


@pytest.mark.parametrize("name", sorted(make_golden.RUNS))
def test_a_checkpoint_of_the_reference_code_resumes_bit_for_bit(tmp_path, name):
    """The reference run's directory cut back to its middle checkpoint (what a run stopped there had left) resumes
    on today's code and ends exactly where the uninterrupted reference run ended."""
    reference = _reference(name)
    middle = MACHINE["middle_checkpoint"][name]
    run_dir = tmp_path / name
    shutil.copytree(reference, run_dir)
    for stem in ("metrics", "eval"):  # a stop after update `middle` had logged only up to it
        path = run_dir / f"{stem}.jsonl"
        rows = [line for line in open(path) if json.loads(line)["update"] <= middle]
        path.write_text("".join(rows))
    os.remove(run_dir / "summary.json")
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "run_dir": str(run_dir)}))
    train.run(dataclasses.replace(Config(), run_dir=str(run_dir), resume=True, **{
        k: v for k, v in config.items() if k not in ("run_dir", "resume", "sweep")}))
    assert _read(run_dir) == _read(reference)
