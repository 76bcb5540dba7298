"""`python -m jbn.evaluate RUN_DIR`: evaluate a trained run's checkpoint (jbn/evaluation/ does the work).

    python -m jbn.evaluate RUN_DIR [--checkpoint U] [--episodes N] [--greedy] [--seed S] [--out FILE]
                                   [--render out.gif] [--env sc2_<map> [--sc2-games G]]

Every combination of the joint policy (as trained) and its decentralised execution (DAG removed), sampled and
greedy, for each seed, with the paper's analyses of the joint policy (jbn/evaluation/__init__.py has the row
schema). `--env sc2_<map>` plays a policy trained on smax_<map> on the real StarCraft II (host-side episodes, the
same rows without the DAG analyses); a run trained on sc2_<map> is evaluated on the game anyway.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Optional

import jax
import tyro
from rich.console import Console

from ..training.config import UserError, check_seeds, is_sc2, preset_values
from ..cmdline.flags import output_problem, parse
from ..host import compile_cache
from ..training.sweep import runs as runs_of
from ..training.trainer import make_env
from . import combos_for, eval_seed, load_config, load_params, make_evaluator, pick_checkpoint
from .on_real_game import game_for_run, play_on_game, target_env
from .render import check_renderable, render_episode
from .tables import print_tables


@dataclass(frozen=True)
class EvalArgs:
    run_dir: tyro.conf.Positional[Annotated[str, tyro.conf.arg(metavar="RUN_DIR")]]
    """run directory written by `python -m jbn.train` (config.json, checkpoints/)"""
    checkpoint: Optional[int] = None
    """update count of the checkpoint to evaluate (default: the newest good one)"""
    episodes: Optional[int] = None
    """episodes per seed and combination (default: the run's eval_episodes, else its preset's)"""
    greedy: bool = False
    """only the greedy rows (default: sampled and greedy)"""
    seed: Optional[int] = None
    """evaluation PRNG seed (default: the run's seed + 10000, the key of the final evaluation in summary.json)"""
    out: Optional[str] = None
    """JSON output file (default: RUN_DIR/eval_<U>.json)"""
    render: Optional[str] = None
    """SMAX, MPE, LBF and RWARE: write one evaluation episode of seed 0 (joint policy, sampled) as a GIF to this
    path, the sampled DAG drawn between the agents"""
    env: Optional[str] = None
    """evaluate on this env instead of the run's: sc2_<map> (the real StarCraft II) for a run trained on smax_<map>"""
    sc2_games: int = 1
    """real StarCraft II only: games played side by side (each a game process)"""


def run_cli(args: EvalArgs, console=None, err=None) -> dict:
    """`python -m jbn.evaluate`: returns {"update", "rows", "out"[, "render"]}. Bad input raises UserError.
    console: the tables (stdout); err: what is evaluated, what was written, warnings (stderr)."""
    console = console or Console()
    err = err or Console(stderr=True)
    warn = lambda msg: err.print(f"[yellow]warning:[/] {msg}", soft_wrap=True, highlight=False)  # noqa: E731
    cfg = load_config(args.run_dir, warn)
    env_name = target_env(cfg, args.env)
    if args.episodes is not None and args.episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {args.episodes!r}")
    if args.sc2_games < 1:
        raise UserError(f"--sc2-games must be >= 1, got {args.sc2_games!r}")
    if args.seed is not None:
        check_seeds("--seed", args.seed)
    for flag, path in (("--out", args.out), ("--render", args.render)):
        problem = output_problem(path, flag) if path is not None else None
        if problem:
            raise UserError(problem)
    if args.render is not None:
        check_renderable(env_name, args.render, lambda: make_env(cfg))  # builds the env, compiles nothing
    update, path = pick_checkpoint(args.run_dir, args.checkpoint, warn)
    episodes = args.episodes
    if episodes is None:
        episodes = cfg.eval_episodes or preset_values(cfg.env, cfg.preset)["eval_episodes"]
    out_path = args.out or os.path.join(args.run_dir, f"eval_{update}.json")
    seed = eval_seed(cfg.seed) if args.seed is None else args.seed
    game = None
    if is_sc2(env_name):  # before compiling: pysc2, the game and the map are installed
        game = game_for_run(cfg, env_name, args.sc2_games, seed)
    trainer, params = load_params(cfg, path)
    key = jax.random.PRNGKey(seed)
    greedy = (True,) if args.greedy else (False, True)
    where = f" on {env_name}" if env_name != cfg.env else ""
    err.print(f"{cfg.env} dag={cfg.dag}: checkpoint {update} ({path}){where}, {episodes} episodes per seed and "
              f"row, evaluation seed {seed}", soft_wrap=True, highlight=False)
    if game is None:
        runs = runs_of(cfg)
        ev = make_evaluator(cfg, trainer.policy, trainer.env, episodes, greedy=greedy)
        rows = ev(params, key, update=update, env_steps=update * cfg.batch_size, seeds=[r.seed for r in runs],
                  tags=[r.tags for r in runs])
        has_win = trainer.env.has_win
    else:
        with game:
            rows = play_on_game(trainer.policy, game, params, episodes, key,
                                combos=combos_for(trainer.policy, greedy), first_seed=cfg.seed, update=update,
                                env_steps=update * cfg.batch_size)
        has_win = game.has_win
    print_tables(rows, has_win, console)
    result = {"run_dir": args.run_dir, "env": env_name, "checkpoint": update, "episodes": episodes,
              "eval_seed": seed, "rows": rows}
    try:
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)
    except OSError as e:
        raise UserError(f"cannot write --out {out_path!r}: {e.strerror or e}") from None
    err.print(f"wrote {out_path}", soft_wrap=True, highlight=False)
    done = {"update": update, "rows": rows, "out": out_path}
    if args.render is not None:
        seed0 = jax.tree.map(lambda x: x[0], params)
        frames = render_episode(trainer.policy, trainer.env, seed0, jax.random.fold_in(key, cfg.seed), args.render,
                                num_episodes=episodes, greedy=args.greedy, name=env_name)
        err.print(f"wrote {args.render} ({frames} frames)", soft_wrap=True, highlight=False)
        done["render"] = args.render
        done["frames"] = frames
    return done


def main(argv=None) -> None:
    args = parse(EvalArgs, argv, prog="python -m jbn.evaluate", description=__doc__.split("\n\n")[0])
    try:
        compile_cache.enable()  # XLA's programs kept on disk: the same checkpoint evaluated again loads them
        run_cli(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
