"""A trained run read back: its config, the checkpoint to evaluate, its parameters (no compile, no env stepped)."""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import jax

from ..host import checkpoint as ckpt
from ..host.real_game import make_game
from ..host.rundir import is_archived_copy
from ..training.config import Config, UserError, is_sc2, resolve
from ..training.trainer import make_train, over_runs, run_keys, stacked_hypers


def load_config(run_dir: str, warn=None) -> Config:
    """The resolved Config of a run directory; UserError naming the problem otherwise."""
    saved = ckpt.saved_config(run_dir)
    path = os.path.join(run_dir, "config.json")
    known = {f.name for f in dataclasses.fields(Config)}
    missing = sorted(known - set(saved))
    if missing and warn is not None:
        warn(f"{path} lacks {', '.join(missing)} (an older layout?); using their defaults")
    try:
        return resolve(Config(**{**saved, "run_dir": run_dir}))
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def pick_checkpoint(run_dir: str, update: Optional[int], warn) -> tuple[int, str]:
    """(update, path) of the checkpoint to evaluate: `update` (verified) or the newest good one."""
    available = ckpt.list_updates(run_dir)
    if not available:
        summary = os.path.join(run_dir, "summary.json")
        hint = (f": an archived run keeps none; its final evaluation is in {summary}, and python -m jbn.plot / "
                f"jbn.compare read its logs" if is_archived_copy(run_dir) and os.path.exists(summary) else "")
        raise UserError(f"no checkpoints in {ckpt.root(run_dir)}{hint}")
    if update is None:
        good = ckpt.find_good(run_dir, warn)
        if not good:
            raise UserError(f"no loadable checkpoint in {ckpt.root(run_dir)}: every one is damaged")
        return good[0]
    if update not in available:
        raise UserError(f"--checkpoint {update}: no such checkpoint in {ckpt.root(run_dir)}; available: "
                        f"{', '.join(map(str, available))}")
    path = os.path.join(ckpt.root(run_dir), str(update))
    problem = ckpt.verify(path)
    if problem is not None:
        raise UserError(f"checkpoint {path} is damaged ({problem})")
    return update, path


def load_params(cfg: Config, path: str):
    """(trainer, seed-batched params) restored from the checkpoint at `path`."""
    if is_sc2(cfg.env):  # trained on the game (jbn/driver/game_stepper.py): a spec env without a game; no env in the state
        trainer = make_train(cfg, env=make_game(cfg.env, cfg.sc2_layout, None))
        init = trainer.init_learner
    else:
        trainer = make_train(cfg)
        init = trainer.init
    # Only the structure (shapes, dtypes) of the runner state, traced but neither compiled nor run (no batched
    # QR either, see trainer.init_runs): orbax restores into it.
    state = jax.eval_shape(over_runs(init, cfg.num_runs), run_keys(cfg), stacked_hypers(cfg))
    try:
        state = ckpt.restore(path, state)
    except Exception as e:  # noqa: BLE001 - any failure to load is the user's checkpoint not fitting the config
        raise UserError(f"cannot restore {path} with the structure of its config.json ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return trainer, state.params
