"""The JAX envs' stepper of the driver loop: every run's update chunks as one compiled program.

    stepper = CompiledStepper(cfg, placement)    # setup and the memory check, before anything is written
    stepper.compile(remaining)                   # init the runs, lower and compile the chunk once
    metrics = stepper.step(call)                 # K = cfg.updates_per_chunk updates of every run, [runs, K]

The chunk is `jax.jit(over_runs(trainer.update_chunk, R))` (jbn.training.trainer), sharded over the devices by
jbn.host.placement; its state is donated, so a chunk that fails leaves no state to save (`saves_on_failure`).
"""
from __future__ import annotations

import jax

from ..evaluation import eval_seed, make_evaluator
from ..host import placement as place
from ..host.rundir import restore_newest
from ..policy.dag_modes import is_learned
from ..training import sweep
from ..training.config import Config, compiler_options
from ..training.trainer import init_runs, make_train, over_runs, run_keys


class CompiledStepper:
    """The driver's stepper for the JAX envs (module docstring)."""

    saves_on_failure = False  # the chunk donates its input state

    def __init__(self, cfg: Config, placement: place.Placement | None, memory=None):
        """memory: `placement.check_memory`'s result for cfg when the caller has checked already."""
        self.cfg, self.placement = cfg, placement
        self.runs = sweep.runs(cfg)
        self.trainer = make_train(cfg, mesh=placement.mesh if placement else None)
        self.hypers = sweep.run_hypers(cfg)
        if memory is None:
            memory = place.check_memory(self.trainer, cfg, self.hypers[0], len(self.runs), placement)
        self.need, self.have, _ = memory
        owner = placement.owner() if placement is not None else [0] * len(self.runs)
        self.only = [r for r, p in enumerate(owner) if p == jax.process_index()]
        self.has_win, self.learns_dag = self.trainer.env.has_win, self.trainer.policy.learns_dag
        self.updates_per_call = cfg.updates_per_chunk
        self.can_evaluate = cfg.eval_episodes > 0
        self.evaluator = (make_evaluator(cfg, self.trainer.policy, self.trainer.env, cfg.eval_episodes)
                          if self.can_evaluate else None)
        self.eval_key = jax.random.PRNGKey(eval_seed(cfg.seed))  # every evaluation: `jbn.evaluate RUN_DIR` repeats it
        self._other_evaluators = {}
        self.state = self.compiled = None

    def header(self) -> str:
        cfg, placement = self.cfg, self.placement
        schedule = f" anneal={cfg.anneal}" if is_learned(cfg.dag) else ""
        if is_learned(cfg.dag) and cfg.anneal != "none" and not {"alpha0", "alpha1"} & set(sweep.swept_names(cfg)):
            a = cfg.anneal_config
            schedule += f" (α {a.alpha0:g}->{a.alpha1:g})"
        lr = "" if any(s.startswith("lr=") for s in cfg.sweep) else f"lr={cfg.lr:g} "
        gru = f" recurrent=gru({cfg.gru_hidden})" if cfg.recurrent == "gru" else ""
        gru += " dag_input=memory" if cfg.dag_input == "memory" else ""
        text = (f"{cfg.env} dag={cfg.dag}{schedule}{gru} seeds={cfg.num_seeds} envs={cfg.num_envs} T={cfg.num_steps} "
                f"{lr}clip={cfg.grad_clip}\n"
                f"{cfg.num_updates} updates ({cfg.num_updates * cfg.batch_size:,} env steps per seed) in chunks of "
                f"{cfg.updates_per_chunk}"
                + (f"; eval every {cfg.eval_every} updates" if cfg.eval_episodes and cfg.eval_every else ""))
        if cfg.num_points > 1:
            text += (f"\nsweep: {cfg.num_points} points ({' x '.join(s.partition('=')[0] for s in cfg.sweep)}) x "
                     f"{cfg.num_seeds} seeds = {cfg.num_runs} runs in one program")
        text += f"\n{placement.describe()}; " if placement is not None else "\n"
        need = f"{self.need / 2**20:,.0f} MiB" if self.need >= 2**20 else f"{self.need / 2**10:,.0f} KiB"
        text += f"memory estimate {need} per device of {self.have / 2**30:,.1f} GiB"
        return text

    def compile(self, remaining: int) -> None:
        state = init_runs(self.trainer.init, run_keys(self.cfg), self.hypers)
        jit_args = {}
        if self.placement is not None:
            shardings = self.placement.state_shardings(state)
            state = self.placement.put(state, shardings)
            jit_args = dict(in_shardings=(shardings,), out_shardings=(shardings, self.placement.runs_sharding()))
        spmd_axis = place.RUNS if self.placement is not None else None
        chunk_fn = jax.jit(over_runs(self.trainer.update_chunk, len(self.runs), spmd_axis), donate_argnums=0,
                           **jit_args)
        self.state = state
        self.compiled = chunk_fn.lower(state).compile(compiler_options(self.cfg)) if remaining else None

    def restore(self, good, warn):
        restored = restore_newest(good, self.state, warn)
        if restored is None:
            return None
        self.state = restored[1]
        return restored[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def step(self, call):
        self.state, metrics = call(self.compiled, self.state)
        return place.host_values(metrics)

    def notes(self) -> list[str]:
        return []

    def checkpoint_state(self):
        return self.state

    def evaluate(self, update: int, episodes: int | None = None) -> list[dict]:
        """The parameters of this very update, every run, four ways (jbn.evaluation), over `episodes` episodes
        (default cfg.eval_episodes; another number compiles its own evaluator, once)."""
        evaluator = self.evaluator
        if episodes not in (None, self.cfg.eval_episodes):
            if episodes not in self._other_evaluators:
                self._other_evaluators[episodes] = make_evaluator(self.cfg, self.trainer.policy, self.trainer.env,
                                                                  episodes)
            evaluator = self._other_evaluators[episodes]
        return evaluator(self.state.params, self.eval_key, update=update, env_steps=update * self.cfg.batch_size,
                              seeds=[r.seed for r in self.runs], tags=[r.tags for r in self.runs])

    def summary(self) -> dict:
        return {}
