"""The one host loop of a training run (`python -m jbn.train`): check, compile, restore, step, log, evaluate,
checkpoint, summarise. Every run goes through it; what differs is the stepper that runs the updates:

    CompiledStepper (jbn/driver/compiled_stepper.py)   the JAX envs: chunks of K updates of every run, one compiled call
    GameStepper     (jbn/driver/game_stepper.py)       the real StarCraft II: one update per call, rolled out on the host

A stepper gives the loop: `runs`, `only` (the runs this process writes), `has_win`, `learns_dag`,
`updates_per_call`, `can_evaluate`, `saves_on_failure`; `header()`, `compile(remaining)`, `restore(good, warn)`,
`step(call) -> metrics [runs, K]`, `notes()`, `checkpoint_state()`, `evaluate(update) -> rows`, `summary()`, and
is a context manager (the games). The loop owns the decisions: where to resume, when to evaluate and
checkpoint, what a non-finite loss or a signal does, and what summary.json holds.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time

import jax
import numpy as np
from jax.experimental import multihost_utils
from rich.console import Console

from ..evaluation import EVAL_SEED_OFFSET, summarize
from ..host import checkpoint as ckpt
from ..host import compile_cache
from ..host import placement as place
from ..host import rundir
from ..host.interrupt import Interrupt, Stopped, stopping_before_training
from ..host.logging import RunLogger, chunk_summary, log_file
from ..host.real_game import check_game, make_game
from ..policy.dag_modes import is_learned
from ..training import sweep
from ..training.config import Config, UserError, check_chunking, check_seeds, is_sc2, resolve
from ..training.trainer import make_train
from .compiled_stepper import CompiledStepper
from .game_stepper import GameStepper


def run(cfg: Config, console=None, out=None) -> dict:
    """Train `cfg` (resolved or not): check everything, compile once, restore, run the chunks (log, evaluate,
    checkpoint), evaluate. Bad input raises UserError before anything is compiled or written. Ctrl-C/SIGTERM:
    checkpoint the last completed chunk and raise SystemExit(128 + signal); before the first update, say how to
    start again and raise it at once. Returns a summary. console: progress and diagnostics (stderr); out: the final
    results (stdout)."""
    explicit_chunk = cfg.updates_per_chunk is not None
    cfg = resolve(cfg)
    check_seeds("seed", cfg.seed, cfg.num_seeds, EVAL_SEED_OFFSET)  # the evaluation's key too (`eval_seed`)
    if place.init_distributed(cfg):  # before anything touches a device
        if cfg.run_dir is None:
            raise UserError("multi-host training needs --run-dir, the same directory on a filesystem every process "
                            "shares (checkpoints and logs of all processes go there)")
        if jax.process_index() > 0:  # process 0 speaks for the run; the others only fail loudly
            console, out = Console(stderr=True, quiet=True), Console(quiet=True)
    console = console or Console(stderr=True)
    out = out or Console()
    warn = lambda msg: console.print(f"[yellow]warning:[/] {msg}", soft_wrap=True)  # noqa: E731
    if is_sc2(cfg.env):  # pysc2, the game and the map installed: before the run directory is created
        check_game(make_game(cfg.env, cfg.sc2_layout, 1))
    placement = None if is_sc2(cfg.env) else place.make(cfg, cfg.num_runs)  # the runs must divide: before any write
    # the sizes, from shapes alone (jax.eval_shape: nothing compiled or allocated), before anything is created
    memory = None if is_sc2(cfg.env) else place.check_memory(
        make_train(cfg), cfg, sweep.hyper_of(sweep.base_values(cfg)), cfg.num_runs, placement)
    existed = cfg.run_dir is not None and os.path.isdir(cfg.run_dir)
    if existed:  # a log that is a directory: refused before the run directory is taken
        rundir.check_log_paths(cfg.run_dir, jax.process_index())
    run_dir = rundir.new_run_dir(cfg)
    console.print(f"run dir: {run_dir}", soft_wrap=True, highlight=False)
    process = jax.process_index()
    lock_fd = rundir.lock(run_dir, process)
    finished = False
    try:
        summary = train_in(dataclasses.replace(cfg, run_dir=run_dir), explicit_chunk, console, warn, placement,
                           memory, out)
        finished = True
        return summary
    except Stopped as e:
        stopped_before_training(run_dir, e.signum, lock_fd, process, not existed, console)
        lock_fd = None
        raise SystemExit(128 + e.signum) from None
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        saved = ckpt.list_updates(run_dir) if cfg.checkpoint and lock_fd is not None else []
        if finished and saved:  # only a run that got to its end is done
            longer = not is_learned(cfg.dag) or cfg.anneal == "none"  # else total_steps fixes the annealing schedule
            hint = f" (train longer: {rundir.resume_command(run_dir)} --total-steps N)" if longer else ""
            console.print(f"done: {run_dir}{hint}", soft_wrap=True, highlight=False)
        elif saved and saved[0] < cfg.num_updates and not isinstance(sys.exc_info()[1], UserError):
            console.print(f"resume: {rundir.resume_command(run_dir)}", soft_wrap=True, highlight=False)


def stopped_before_training(run_dir: str, signum: int, lock_fd: int, process: int, created: bool, console) -> None:
    """A signal before the first update (compiling, restoring): unlock, and say what the directory holds and how to
    start again; a directory this run created and left empty is removed."""
    rundir.unlock(run_dir, lock_fd, process)
    name = signal.Signals(signum).name
    left = sorted(os.listdir(run_dir))
    if created and not left:
        os.rmdir(run_dir)
        console.print(f"{name}: stopped before the first update; nothing was written (the run directory is removed)",
                      soft_wrap=True, highlight=False)
    elif "config.json" in left:
        console.print(f"{name}: stopped before the first update of {run_dir}; start it again with: "
                      f"{rundir.resume_command(run_dir)} (or delete {run_dir})", soft_wrap=True, highlight=False)
    else:
        console.print(f"{name}: stopped before the first update; {run_dir} is as it was", soft_wrap=True,
                      highlight=False)


def rounding_note(cfg: Config) -> str | None:
    """The line that says --total-steps is cut to whole updates (None when it is a whole number of them)."""
    if cfg.total_steps % cfg.batch_size == 0:
        return None
    return (f"--total-steps {cfg.total_steps} is {cfg.num_updates} updates of {cfg.batch_size} env steps "
            f"(num_envs {cfg.num_envs} x num_steps {cfg.num_steps}): {cfg.num_updates * cfg.batch_size:,} env steps "
            f"per seed")


def torso_note(cfg: Config, backend: str) -> str | None:
    """The warning for a CNN torso on a CPU: XLA's CPU convolutions make the update ~100x slower than the flattened
    grid's dense layer (overcooked_forced_coord, bench/RESULTS.md "The CNN torso on a CPU"); None otherwise."""
    if cfg.torso != "cnn" or backend != "cpu":
        return None
    return ("--torso cnn (chosen for this env's grid observations) on a CPU: XLA's CPU convolutions train ~100x "
            "slower than --torso mlp, which flattens the grid into the first dense layer (JaxMARL's feed-forward "
            "IPPO on Overcooked); the CNN is meant for a GPU")


def make_stepper(cfg: Config, placement, start_update: int, memory=None):
    """The stepper of this run (module docstring); its setup checks what it needs before anything is written."""
    if is_sc2(cfg.env):
        return GameStepper(cfg, start_update)
    return CompiledStepper(cfg, placement, memory)


def prepare(cfg: Config, explicit_chunk: bool, console, warn, placement=None, memory=None):
    """Check, compile, restore: (cfg with the chunk size of the updates that remain, the stepper, the update to
    start from, compile seconds). Everything that can be wrong is checked before compiling."""
    run_dir = cfg.run_dir
    process = jax.process_index()
    start_update, good = rundir.resume_point(cfg, warn, process)
    remaining = cfg.num_updates - start_update
    if remaining and remaining % cfg.updates_per_chunk:
        if explicit_chunk:
            check_chunking(remaining, cfg.updates_per_chunk)
        cfg = dataclasses.replace(cfg, updates_per_chunk=largest_divisor_at_most(remaining, cfg.updates_per_chunk))
    stepper = make_stepper(cfg, placement, start_update, memory)
    if process == 0:
        with rundir.writing(run_dir, "config.json"):
            rundir.atomic_write(os.path.join(run_dir, "config.json"), json.dumps(dataclasses.asdict(cfg), indent=2))
    note = rounding_note(cfg)
    console.print(stepper.header() + (f"\n{note}" if note else ""), soft_wrap=True, highlight=False)
    if (slow := torso_note(cfg, jax.default_backend())) is not None:
        warn(slow)

    # ---- compile, restore
    t0, cached = time.perf_counter(), compile_cache.read_so_far()
    stepper.compile(remaining)
    compile_s = time.perf_counter() - t0
    console.print(f"compiled in {compile_s:.1f}s{compile_cache.note(cached)}", soft_wrap=True, highlight=False)
    restored = stepper.restore(good, warn)
    if restored is not None:
        if restored != start_update:  # the newest checkpoint did not load: an older one did
            start_update, remaining = restored, cfg.num_updates - restored
            check_chunking(remaining, cfg.updates_per_chunk)
        console.print(f"resumed at update {start_update} of {cfg.num_updates}", highlight=False)
    with rundir.writing(run_dir, "the logs cut back to the restored update"):
        rundir.reset_logs(cfg, start_update, warn, process)
    return cfg, stepper, start_update, compile_s


def train_in(cfg: Config, explicit_chunk: bool, console, warn, placement=None, memory=None, out=None) -> dict:
    """`run` in a created and locked run directory; placement: where the runs go (None: one device); memory:
    `placement.check_memory`'s result for this config (None: the stepper checks); out: where the final results go
    (default: console)."""
    out = out or console
    with stopping_before_training():  # a signal while compiling or restoring: Stopped (`run` says how to restart)
        cfg, stepper, start_update, compile_s = prepare(cfg, explicit_chunk, console, warn, placement, memory)
    run_dir, process = cfg.run_dir, jax.process_index()
    remaining = cfg.num_updates - start_update
    K = stepper.updates_per_call
    last_eval = {"update": None, "rows": []}

    def evaluate(done: int) -> list[dict]:
        rows = stepper.evaluate(done)
        last_eval.update(update=done, rows=rows)
        return rows

    done = saved = start_update  # updates done; the newest checkpoint
    last_save = time.monotonic()

    def intact() -> str:  # what a full disk leaves behind (rundir.writing)
        return (f"The newest checkpoint (update {saved}) and every line logged before are intact" if saved else
                "Every line logged before is intact (no checkpoint yet)")

    with stepper, RunLogger(run_dir, cfg, has_win=stepper.has_win, learns_dag=stepper.learns_dag,
                            start_update=start_update, console=console, runs=stepper.runs, only=stepper.only,
                            process=process) as log, Interrupt(log.print) as interrupt:
        try:
            for _ in range(remaining // K):
                t = time.perf_counter()
                metrics = stepper.step(interrupt.call)
                dt = time.perf_counter() - t
                check_finite(metrics, stepper.runs, run_dir)
                done += K
                with rundir.writing(run_dir, "metrics.jsonl", kept=intact()):
                    log.chunk(metrics, dt)
                for note in stepper.notes():
                    log.print(note)
                if stepper.can_evaluate and cfg.eval_every and done // cfg.eval_every > (done - K) // cfg.eval_every:
                    rows = evaluate(done)
                    with rundir.writing(run_dir, "eval.jsonl", kept=intact()):
                        log.evaluation(rows)
                # every process takes the same decision (a checkpoint is collective): the time of process 0
                stop = agree(interrupt.signum is not None)
                due = agree(time.monotonic() - last_save >= cfg.checkpoint_every_s)
                if cfg.checkpoint and (stop or done == cfg.num_updates or due):
                    save_checkpoint(run_dir, done, stepper.checkpoint_state(), cfg.keep_checkpoints, intact())
                    saved, last_save = done, time.monotonic()
                if stop:
                    log.print(f"stopped at update {done} of {cfg.num_updates}"
                              + (" (checkpoint written)" if cfg.checkpoint else " (no checkpoint: --checkpoint false)"))
                    raise SystemExit(128 + (interrupt.signum or signal.SIGTERM))
        except (FloatingPointError, UserError):
            raise  # the state is bad, or the disk refused a write: the last good checkpoint stays
        except Exception as e:  # a game that cannot be relaunched, an install removed mid-run, ...: the step in
            # flight is lost, not the updates before it, where the stepper's state survives a failed step
            if stepper.saves_on_failure and cfg.checkpoint and done > saved:
                ckpt.save(run_dir, done, stepper.checkpoint_state(), cfg.keep_checkpoints)
                log.print(f"{type(e).__name__} during the rollout of update {done + 1}: the state after "
                          f"update {done} is checkpointed")
            raise
        if stepper.can_evaluate and last_eval["update"] != cfg.num_updates:  # the final evaluation
            rows = evaluate(cfg.num_updates)
            if remaining:  # (a finished run resumed already logged it)
                with rundir.writing(run_dir, "eval.jsonl", kept=intact()):
                    log.evaluation(rows)
        absolute = logged_absolute(cfg, process, warn) if stepper.can_evaluate and cfg.absolute_episodes else []
        if stepper.can_evaluate and cfg.absolute_episodes and (remaining or not absolute):
            absolute = stepper.evaluate(cfg.num_updates, episodes=cfg.absolute_episodes)
            with rundir.writing(run_dir, "absolute.jsonl", kept=intact()):
                log.absolute(absolute)
        summary = {"run_dir": run_dir, "compile_s": compile_s, **log.last, **stepper.summary()}
        last_metrics = log.last_metrics
    if stepper.can_evaluate and cfg.num_points == 1:
        summary["eval"] = summarize(last_eval["rows"], stepper.has_win)
        for mode, res in summary["eval"].items():
            win = f" win {res['win_rate_mean']:.2f}" if stepper.has_win else ""
            out.print(f"final eval {mode}: return {res['return_mean']:.3f}{win} (mean over seeds)", highlight=False)
        if absolute:
            summary["absolute"] = summarize(absolute, stepper.has_win)
    if cfg.num_points > 1:  # one entry per point instead of a mean over unlike runs
        summary["sweep"] = sweep_summary(cfg, last_eval["rows"], stepper.has_win, last_metrics, out)
    if process == 0:
        with rundir.writing(run_dir, "summary.json", kept=intact()):
            rundir.atomic_write(os.path.join(run_dir, "summary.json"), json.dumps(summary, indent=2))
    return summary


def logged_absolute(cfg: Config, process: int, warn) -> list[dict]:
    """The absolute-metric rows absolute.jsonl holds for the run's last update (none: not computed yet)."""
    path = log_file(cfg.run_dir, "absolute", process)
    rows = [json.loads(line) for line in rundir.read_log_rows(path, cfg.num_updates, warn)]
    return [r for r in rows if r["update"] == cfg.num_updates and r["episodes"] == cfg.absolute_episodes]


def save_checkpoint(run_dir: str, update: int, state, keep: int, kept: str) -> None:
    """ckpt.save, with a full disk reported as one DiskError (`rundir.writing`): a checkpoint the size of the last
    one that cannot fit is not started; kept: what the error says is intact. Orbax writes each process's OCDBT files
    and then merges them into the final database, so a save needs about twice its final size while it runs."""
    what, last = f"the checkpoint of update {update}", ckpt.size_on_disk(run_dir)
    need = 2 * (last or place.nbytes(state))
    if last:
        rundir.check_room(run_dir, what, need, kept=kept)
    with rundir.writing(run_dir, what, kept=kept, need=need):
        ckpt.save(run_dir, update, state, keep)


def largest_divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, max(1, min(n, k)) + 1) if n % d == 0)


def check_finite(metrics, runs: list[sweep.RunTag], run_dir: str) -> None:
    """FloatingPointError naming the first update and run whose loss is not finite."""
    total = np.asarray(metrics.loss.total)
    if not np.all(np.isfinite(total)):
        bad = np.argwhere(~np.isfinite(total))[0]
        raise FloatingPointError(
            f"non-finite loss at update {int(metrics.update[bad[0], bad[1]])} of {run_name(runs[bad[0]])}; "
            f"the last good checkpoint in {ckpt.root(run_dir)} is kept"
        )


def agree(flag: bool) -> bool:
    """Process 0's `flag` on every process (a checkpoint must be written by all of them or none)."""
    if jax.process_count() == 1:
        return flag
    return bool(multihost_utils.broadcast_one_to_all(np.bool_(flag)))


def run_name(run: sweep.RunTag) -> str:
    return f"seed {run.seed}" + (f" at {sweep.label(dict(run.point))}" if run.point else "")


def sweep_summary(cfg: Config, eval_rows: list[dict], has_win: bool, metrics, console) -> list[dict]:
    """summary.json's per-point results: the point, the last update's training means over its seeds and, with
    evaluation, the final evaluation summarised over its seeds (`evaluation.summarize`); printed one line each."""
    out = []
    for p, point in enumerate(sweep.points(cfg)):
        sel = slice(p * cfg.num_seeds, (p + 1) * cfg.num_seeds)
        entry = {"point": point, "label": sweep.label(point)}
        if metrics is not None:
            entry.update(chunk_summary(jax.tree.map(lambda x: np.asarray(x)[sel], metrics), has_win))
        rows = [r for r in eval_rows if r.get("sweep") == point]
        if rows:
            entry["eval"] = summarize(rows, has_win)
        out.append(entry)
        joint = entry.get("eval", {}).get("joint")
        ret = entry.get("episode_return")
        text = f"{entry['label']}: train return " + ("-" if ret is None else f"{ret:.3g}")
        if joint:
            text += f", final eval joint return {joint['return_mean']:.3f}"
            if has_win:
                text += f" win {joint['win_rate_mean']:.2f}"
        console.print(text, highlight=False)
    return out
