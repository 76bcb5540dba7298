"""BN-MAPPO as one compiled program (docs/architecture.md §4).

    python -m jbn.train --env smax_6h_vs_8z                 # BN-MAPPO, learned context-aware DAG
    python -m jbn.train --env cg_2 --dag full --num-seeds 8 # 8 seeds in one jit (vmap)
    python -m jbn.train --env cg_2 --num-seeds 4 --sweep lr=3e-4,1e-3 --sweep ent_coef=0,0.01   # 16 runs, one jit
    python -m jbn.train --run-dir RUN_DIR --resume          # continue a run

`python -m jbn.train` is this module, the command line only: `run(cfg)` (jbn/driver/loop.py) trains, `jbn.training.trainer.make_train(cfg)` is the
compiled program, jbn/host/rundir.py the run directory.
"""
from __future__ import annotations

import os
import sys

from .host import distributed

# On several hosts `jax.distributed.initialize` must run before JAX's backend starts, which the imports below do
# (envs_jax imports jaxmarl, which builds arrays): for the command `python -m jbn.train` and only that one, start it
# now from the command line's flags or the JAX_* environment.
distributed.boot(getattr(sys, "orig_argv", ()))

from .host import checkpoint as ckpt  # noqa: E402
from .host import compile_cache  # noqa: E402
from .cmdline import flags  # noqa: E402
from .training.config import Config, UserError, resolve  # noqa: E402
from .training.sweep import parse as parse_sweep  # noqa: E402
from .host.distributed import flag_value  # noqa: E402
from .driver.loop import run  # noqa: E402,F401  (jbn.train.run: the programmatic form of this command)


PROG = "python -m jbn.train"


def resume_defaults(argv: list[str]) -> Config:
    """With --resume, the saved config of --run-dir is the default of every field not given on the command line,
    so `python -m jbn.train --run-dir R --resume` is the whole resume command. The saved config is checked first,
    by the rules of a new one (every field present, of its type, valid: `resolve`), so a config.json edited by hand
    is refused naming the field and the file before anything is written or compiled."""
    run_dir = flag_value(argv, "--run-dir")
    if "--resume" not in argv or run_dir is None:
        return Config()
    saved = ckpt.saved_config(run_dir, "--resume: ")
    # The chunk size follows the updates that remain unless given again; where this process runs (multi-host
    # addresses, its index) comes from this command line, never from the run's first start.
    saved = {k: v for k, v in saved.items() if k not in ("coordinator", "num_processes", "process_id")}
    for name in ("sweep", "env_kwargs", "env_rules"):
        if name in saved:
            saved[name] = tuple(saved[name])
    try:
        resolve(Config(**{**saved, "run_dir": run_dir, "updates_per_chunk": None, "resume": True}))
    except UserError as e:
        raise UserError(f"--resume: {os.path.join(run_dir, 'config.json')}: {e}") from None
    for name in ("sweep", "env_kwargs", "env_rules"):  # appended to their default on the command line: given again, they
        flag = "--" + name.replace("_", "-")  # replace the saved ones (and a different value is refused on resume)
        if any(a == flag or a.startswith(flag + "=") for a in argv):
            saved.pop(name, None)
    return Config(**{**saved, "updates_per_chunk": None, "resume": True})


def refuse_swept_flags(argv: list[str], cfg: Config) -> None:
    """UserError for a flag whose value a --sweep axis replaces in every run (`--sweep lr=1e-3,2e-3 --lr 5e-4`)."""
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    for name, values in parse_sweep(cfg.sweep):
        flag = "--" + name.replace("_", "-")
        if flag in given or "--" + name in given:
            raise UserError(f"{flag} and --sweep {name}=...: the sweep sets {name} in every run "
                            f"({', '.join(f'{v:g}' for v in values)}), so {flag} would be ignored; give one of them")


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        flags.check_flags(Config, argv, PROG)
        default = resume_defaults(argv)
        cfg = flags.parse(Config, argv, prog=PROG, description=__doc__.split("\n\n")[0], default=default)
        refuse_swept_flags(argv, cfg)
        compile_cache.enable()  # XLA's programs kept on disk: a resume or a rerun loads instead of compiling
        run(cfg)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    flags.run_command(main)
