"""Training configuration: one frozen dataclass, per-env presets, validation before any compile.

`resolve(cfg)` fills every field left as None from the env's preset (paper Table 2 and DESIGN.md §4)
and validates the result. tyro turns `Config` into the CLI of `python -m jbn.train`.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Optional

import envs_jax

from . import schedules
from .dag import DAG_MODES

RATIO_MODES = ("agent", "joint")
PRESETS = ("cg", "aloha", "smax")

# Paper Table 2 / the authors' code, with rollout sizes for a vectorised trainer.
_PRESET_VALUES = {
    "cg": dict(lr=7e-4, total_steps=200_000, num_envs=32, num_steps=25, num_epochs=5, num_minibatches=1,
               gamma=0.95, ent_coef=0.01, arch="cg", deepset_edges=True, learn_order=True,
               mask_invisible_parents=False, parent_obs=False, anneal="none"),
    "aloha": dict(lr=7e-4, total_steps=1_000_000, num_envs=32, num_steps=20, num_epochs=5, num_minibatches=1,
                  gamma=0.99, ent_coef=0.01, arch="aloha", deepset_edges=False, learn_order=True,
                  mask_invisible_parents=False, parent_obs=True, anneal="none"),
    "smax": dict(lr=5e-4, total_steps=10_000_000, num_envs=64, num_steps=128, num_epochs=5, num_minibatches=4,
                 gamma=0.99, ent_coef=0.01, arch="smax", deepset_edges=False, learn_order=False,
                 mask_invisible_parents=True, parent_obs=False, anneal="6h_vs_8z"),
}


def preset_for_env(env: str) -> str:
    if env.startswith("cg_"):
        return "cg"
    if env.startswith("aloha"):
        return "aloha"
    return "smax"


@dataclass(frozen=True)
class Config:
    """BN-MAPPO training run. Fields left as None come from the env's preset."""

    env: str = "smax_6h_vs_8z"
    """environment name (envs_jax.names())"""
    dag: str = "context"
    """joint policy: none (plain MAPPO) | line | full | context (learned per step)"""
    preset: Optional[str] = None
    """hyper-parameter preset: cg | aloha | smax (default: from the env name)"""
    num_seeds: int = 1
    """independent seeds trained together under vmap"""
    seed: int = 0
    """first seed; seed k of the batch uses seed + k"""
    total_steps: Optional[int] = None
    """env steps per seed"""
    num_envs: Optional[int] = None
    """parallel envs per seed"""
    num_steps: Optional[int] = None
    """rollout length T per update"""
    num_epochs: Optional[int] = None
    num_minibatches: Optional[int] = None
    lr: Optional[float] = None
    gamma: Optional[float] = None
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: Optional[float] = None
    vf_coef: float = 1.0
    max_grad_norm: float = 10.0
    huber_delta: float = 10.0
    ratio: str = "agent"
    """PPO ratio: agent (per-agent, MAPPO) | joint (product over agents)"""
    hidden: int = 64
    arch: Optional[str] = None
    """actor architecture: smax | cg | aloha (Table 2)"""
    learn_order: Optional[bool] = None
    """context mode: learn the topological order Π (else Π = I, the paper's SMAC setting)"""
    deepset_edges: Optional[bool] = None
    mask_invisible_parents: Optional[bool] = None
    """SMAX: a parent the child cannot see contributes zeros (the authors' code)"""
    parent_obs: Optional[bool] = None
    """Aloha: parents also pass their observations"""
    anneal: Optional[str] = None
    """density annealing preset (context mode): 6h_vs_8z | MMM2 | none"""
    updates_per_chunk: Optional[int] = None
    """PPO updates per jitted chunk (default: about 1/50 of the run, at least 1)"""
    run_dir: Optional[str] = None
    """output directory (config.json, metrics.jsonl, checkpoints); default runs/<env>_<dag>_<time>"""
    checkpoint: bool = True
    """write an atomic checkpoint after every chunk; resume with --resume"""
    resume: bool = False
    """continue the run in --run-dir from its last checkpoint"""
    eval_episodes: int = 32
    """episodes of the final evaluation (stochastic joint policy and decentralised, DAG removed); 0: none"""

    # ---- derived sizes ----
    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.batch_size)

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_chunks(self) -> int:
        return -(-self.num_updates // self.updates_per_chunk)

    @property
    def anneal_config(self) -> schedules.AnnealConfig:
        return schedules.PRESETS[self.anneal]


def _choice(name, value, choices):
    if value not in choices:
        close = difflib.get_close_matches(str(value), list(choices), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{name}={value!r} is not valid.{hint} Valid choices: {', '.join(map(str, choices))}")


def default_updates_per_chunk(num_updates: int, batch_size: int, target_steps: int = 50_000) -> int:
    """About 50k env steps (and at most 1/50 of the run) per jitted chunk, dividing the updates evenly."""
    target = max(1, min(num_updates // 50, -(-target_steps // batch_size)))
    return max(k for k in range(1, target + 1) if num_updates % k == 0)


def resolve(cfg: Config) -> Config:
    """Fill preset defaults and validate. Raises ValueError naming the bad value and the valid choices."""
    _choice("env", cfg.env, envs_jax.names())
    _choice("dag", cfg.dag, DAG_MODES)
    preset = cfg.preset or preset_for_env(cfg.env)
    _choice("preset", preset, PRESETS)
    values = {"preset": preset}
    for k, v in _PRESET_VALUES[preset].items():
        if getattr(cfg, k) is None:
            values[k] = v
    cfg = dataclasses.replace(cfg, **values)
    _choice("ratio", cfg.ratio, RATIO_MODES)
    _choice("arch", cfg.arch, ("smax", "cg", "aloha"))
    _choice("anneal", cfg.anneal, tuple(schedules.PRESETS))
    for name in ("num_seeds", "total_steps", "num_envs", "num_steps", "num_epochs", "num_minibatches", "hidden"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    for name in ("lr", "clip_eps", "max_grad_norm", "huber_delta"):
        v = getattr(cfg, name)
        if not v > 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")
    for name in ("gamma", "gae_lambda"):
        v = getattr(cfg, name)
        if not 0 < v <= 1:
            raise ValueError(f"{name} must lie in (0, 1], got {v!r}")
    for name in ("ent_coef", "vf_coef"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)!r}")
    if cfg.eval_episodes < 0:
        raise ValueError(f"eval_episodes must be >= 0, got {cfg.eval_episodes!r}")
    if cfg.batch_size % cfg.num_minibatches:
        raise ValueError(
            f"num_envs * num_steps = {cfg.num_envs} * {cfg.num_steps} = {cfg.batch_size} is not divisible by "
            f"num_minibatches = {cfg.num_minibatches}; choose a divisor of {cfg.batch_size}"
        )
    if cfg.total_steps < cfg.batch_size:
        raise ValueError(
            f"total_steps = {cfg.total_steps} is smaller than one rollout (num_envs * num_steps = {cfg.batch_size})"
        )
    if cfg.updates_per_chunk is None:
        cfg = dataclasses.replace(cfg, updates_per_chunk=default_updates_per_chunk(cfg.num_updates, cfg.batch_size))
    elif cfg.updates_per_chunk < 1:
        raise ValueError(f"updates_per_chunk must be a positive integer, got {cfg.updates_per_chunk!r}")
    if cfg.resume and cfg.run_dir is None:
        raise ValueError("--resume needs --run-dir (the run to continue)")
    return cfg
