"""Training configuration: one frozen dataclass, per-env presets, validation before any compile.

`resolve(cfg)` fills every field left as None from the env's preset (paper Table 2; docs/architecture.md
§4) and validates the result. `sc2_<map>` (the real StarCraft II, trained by jbn/driver/game_stepper.py) takes the
`smax` preset of `smax_<map>`, with fewer envs: each is a game process. tyro turns `Config` into the CLI of `python -m jbn.train`; the `Literal`
fields list their choices in `--help`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass
from typing import Annotated, Literal, Optional, Union, get_args, get_origin

import tyro

import envs_jax
from envs_jax.registry import check_choice, sc2_names, train_names

from ..policy.dag_modes import DagMode, has_parents, is_learned
from . import schedules, sweep
from .errors import UserError  # noqa: F401  (re-exported: jbn.training.config.UserError)
from ..policy.networks import Arch
from ..policy.torso import TorsoKind, torso_for
from .ppo import GradClip, Ratio

Preset = Literal["cg", "aloha", "smax", "mpe", "overcooked", "lbf", "rware", "connector", "cleaner", "matrax",
                 "custom"]
PRESETS: tuple[str, ...] = get_args(Preset)
Anneal = Literal["6h_vs_8z", "MMM2", "none"]
assert set(get_args(Anneal)) == set(schedules.PRESETS), "Anneal must list schedules.PRESETS"
Recurrent = Literal["none", "gru"]
RECURRENT: tuple[str, ...] = get_args(Recurrent)
DagInput = Literal["obs", "memory"]
DAG_INPUTS: tuple[str, ...] = get_args(DagInput)
GRU_HIDDEN = 64  # default GRU width (JaxMARL's MAPPO-RNN uses 128)
SC2Layout = Literal["smax", "smac"]
SC2_LAYOUTS: tuple[str, ...] = get_args(SC2Layout)
SINKHORN_ITERS = 20  # the paper's L
MAX_STEPS = 2**31  # env steps per seed: the update and step counters of the compiled program are int32
SEED_LIMIT = 2**32  # jax.random.PRNGKey takes a seed as an unsigned 32-bit integer: larger ones wrap (2**32 is seed 0)


# Paper Table 2 / the authors' code, with rollout sizes for a vectorised trainer.
_PRESET_VALUES = {
    "cg": dict(lr=7e-4, total_steps=200_000, num_envs=32, num_steps=25, num_epochs=5, num_minibatches=1,
               gamma=0.95, ent_coef=0.01, arch="cg", deepset_edges=True, learn_order=True,
               mask_invisible_parents=False, parent_obs=False, anneal="none", eval_episodes=100),
    "aloha": dict(lr=7e-4, total_steps=1_000_000, num_envs=32, num_steps=20, num_epochs=5, num_minibatches=1,
                  gamma=0.99, ent_coef=0.01, arch="aloha", deepset_edges=False, learn_order=True,
                  mask_invisible_parents=False, parent_obs=True, anneal="none", eval_episodes=100),
    "smax": dict(lr=5e-4, total_steps=10_000_000, num_envs=64, num_steps=128, num_epochs=5, num_minibatches=4,
                 gamma=0.99, ent_coef=0.01, arch="smax", deepset_edges=False, learn_order=False,
                 mask_invisible_parents=True, parent_obs=False, anneal="6h_vs_8z", eval_episodes=32),
}
# The env families of the community's benchmarks (README "Presets"): the anchors' own MAPPO/IPPO settings. jbn's
# MAPPO keeps its own clip (0.2), value loss (Huber, vf_coef 1), gradient clipping (10, per network) and a constant
# learning rate everywhere; the learned DAG is annealed with the SMAX schedule (α 0.1 -> 1.0) and learns its order.
_GENERIC = dict(arch="smax", deepset_edges=False, learn_order=True, mask_invisible_parents=False, parent_obs=False,
                anneal="6h_vs_8z", eval_episodes=32)
# Mava's ff_mappo (mava/configs/system/ppo/ff_mappo.yaml, arch/anakin.yaml): actor/critic lr 2.5e-4, 16 envs x
# update_batch_size 2 = 32 envs per gradient, rollout 128, 4 epochs, 2 minibatches, gamma 0.99, ent 0.01, 1000 updates.
_MAVA = dict(lr=2.5e-4, total_steps=1000 * 32 * 128, num_envs=32, num_steps=128, num_epochs=4, num_minibatches=2,
             gamma=0.99, ent_coef=0.01, **_GENERIC)
_PRESET_VALUES.update({
    # JaxMARL's MAPPO on MPE (baselines/MAPPO/config/mappo_homogenous_rnn_mpe.yaml)
    "mpe": dict(lr=2e-3, total_steps=10_000_000, num_envs=16, num_steps=128, num_epochs=4, num_minibatches=4,
                gamma=0.99, ent_coef=0.01, **_GENERIC),
    # JaxMARL's IPPO on Overcooked (baselines/IPPO/config/ippo_ff_overcooked.yaml; reward shaping annealed to 0 over
    # 2.5e6 env steps, _SHAPING below)
    "overcooked": dict(lr=2.5e-4, total_steps=5_000_000, num_envs=16, num_steps=128, num_epochs=4, num_minibatches=4,
                       gamma=0.99, ent_coef=0.01, **_GENERIC),
    "lbf": dict(_MAVA), "rware": dict(_MAVA), "connector": dict(_MAVA), "cleaner": dict(_MAVA), "matrax": dict(_MAVA),
    "custom": dict(_MAVA),  # your own env (--env package.module:factory): Mava's MAPPO defaults
})
# env steps over which a family's shaped reward is annealed from weight 1 to 0 (JaxMARL's REW_SHAPING_HORIZON)
_SHAPING = {"overcooked": 2_500_000}
# env-name prefix -> preset (a factory spec 'package.module:factory' -> custom)
_PRESET_BY_PREFIX = {"cg_": "cg", "aloha": "aloha", "smax_": "smax", "sc2_": "smax", "mpe_": "mpe",
                     "overcooked_": "overcooked", "lbf_": "lbf", "rware_": "rware", "connector_": "connector",
                     "cleaner_": "cleaner", "matrax_": "matrax"}
# Paper §7.4.4: α rises 0.05 -> 0.5 on MMM2 (0.1 -> 1.0 on 6h_vs_8z, the SMAX default). MMM uses the same units.
_ANNEAL_BY_ENV = {"smax_MMM2": "MMM2", "smax_MMM": "MMM2"}
# On the real game every env is a StarCraft II process (GBs of memory each): 8 games side by side, as SMAC's
# MAPPO runs 8 rollout threads, instead of the 64 envs a vectorised SMAX trainer steps at once. The rest of
# the SMAX preset (learning rate, epochs, minibatches, T, annealing) is kept.
_SC2_VALUES = dict(num_envs=8)


# XLA's options for `--deterministic` (given to every compile of the run, so they need no environment variable set
# before JAX starts): deterministic reductions and scatters on GPUs, and an error rather than a silent
# nondeterministic kernel where XLA has no deterministic one.
DETERMINISTIC_XLA_OPTIONS = {"xla_gpu_deterministic_ops": True, "xla_gpu_exclude_nondeterministic_ops": True}


def compiler_options(cfg: "Config") -> dict | None:
    """The XLA options the run's programs are compiled with (None: XLA's defaults)."""
    return dict(DETERMINISTIC_XLA_OPTIONS) if cfg.deterministic else None


def is_sc2(env: str) -> bool:
    """The real StarCraft II (a host-side env), not a JAX env."""
    return env.startswith("sc2_")


def smax_twin(env: str) -> str:
    """smax_<map> for sc2_<map> (the SMAX scenario whose preset, schedule and layout the game uses); else env."""
    return "smax_" + env[len("sc2_"):] if is_sc2(env) else env


def preset_for_env(env: str) -> str:
    """The preset of a valid env name: its family's (custom for a factory spec)."""
    if envs_jax.is_factory_spec(env):
        return "custom"
    for prefix, preset in _PRESET_BY_PREFIX.items():
        if env.startswith(prefix):
            return preset
    raise UserError(f"env={env!r} belongs to no family with a preset; give --preset ({', '.join(PRESETS)})")


def parse_env_kwargs(items) -> dict:
    """{key: value} from --env-kwargs KEY=VALUE items; a value is read as JSON (1, 0.5, true, "s", [1, 2]) and
    taken as a plain string where it is not JSON (layout=coord_ring)."""
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UserError(f"env_kwargs item {item!r} is not KEY=VALUE (a name, '=', a JSON value or a word)")
        if key in out:
            raise UserError(f"env_kwargs: {key!r} is given twice ({out[key]!r} and {value!r})")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


ENV_RULES = {"team_reward": str, "world_state": str, "max_steps": int}


def parse_env_rules(items) -> dict:
    """{rule: value} from --env-rules KEY=VALUE items (the rules every family's adapter takes, ENV_RULES)."""
    rules = parse_env_kwargs(items)
    for key, value in rules.items():
        _choice("env_rules key", key, list(ENV_RULES))
        want = ENV_RULES[key]
        if isinstance(value, bool) or not isinstance(value, want):
            raise UserError(f"env_rules {key}={value!r}: expected a {want.__name__}")
    return rules


def check_env(env: str, env_kwargs: dict, env_rules: dict):
    """Build the env once (no compile) so that a bad factory, kwarg or rule is one error before anything starts.
    Returns the ArrayEnv."""
    try:
        return envs_jax.ArrayEnv(envs_jax.make(env, **env_kwargs), **env_rules)
    except (ValueError, TypeError) as e:
        hint = " (give it with --env-rules max_steps=N)" if "max_steps" in str(e) and "max_steps" not in env_rules \
            else ""
        raise UserError(f"{e}{hint}") from None


def preset_values(env: str, preset: str) -> dict:
    """The preset's field values for `env` (the annealing schedule depends on the map; sc2_<map> follows
    smax_<map> with fewer envs)."""
    values = dict(_PRESET_VALUES[preset])
    if preset == "smax":
        values["anneal"] = _ANNEAL_BY_ENV.get(smax_twin(env), values["anneal"])
    if is_sc2(env):
        values.update(_SC2_VALUES)
    return values


@dataclass(frozen=True)
class Config:
    """BN-MAPPO training run. Fields left as None come from the env's preset."""

    env: str = "smax_6h_vs_8z"
    """environment name (envs_jax.names()): cg_N, aloha_10, smax_<map>, mpe_<scenario>, overcooked_<layout>,
    lbf_<task>, rware_<task>, connector_<task>, cleaner_<task>, matrax_<game>; sc2_<map>: the real StarCraft II
    (envs_jax.registry.sc2_names()); or your own env as package.module:factory"""
    env_kwargs: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """KEY=VALUE (a JSON value; repeatable): keyword arguments of the env's constructor or factory, e.g. LBF's
    grid_size=10 or MPE's num_agents=4; recorded in config.json and kept on resume"""
    env_rules: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """KEY=VALUE (repeatable): the env family's rules, for your own env or to override a family's:
    team_reward=shared|sum|mean (the team reward from the agents' rewards), world_state=env|concat (the critic's
    input: the env's own or the agents' observations concatenated), max_steps=N (the episode limit; an end there is
    a truncation); recorded in config.json"""
    torso: TorsoKind = "auto"
    """how the networks read one observation: mlp (a vector; grids flattened, their first dense layer is the torso) |
    cnn (grids [H, W, C] through Conv(32,3x3)-Conv(32,3x3)-FC, in the actor, the critic and the DAG nets) | auto (cnn
    for grid observations: Overcooked, Connector, Cleaner; mlp otherwise)"""
    reward_shaping_horizon: Optional[int] = None
    """env steps over which the env's shaped reward (Overcooked) is annealed from weight 1 to 0 (default: 2.5e6 on
    Overcooked, as JaxMARL's IPPO; 0: no shaping)"""
    sc2_layout: Optional[SC2Layout] = None
    """sc2_<map> only: smax (SMAX's observations and actions, as smax_<map> trains; default) | smac (SMAC's)"""
    dag: DagMode = "context"
    """joint policy: none (plain MAPPO) | line | full | context (learned per step)"""
    preset: Optional[Preset] = None
    """hyper-parameter preset (default: from the env name)"""
    num_seeds: int = 1
    """independent seeds trained together under vmap"""
    seed: int = 0
    """first seed; seed k of the batch uses seed + k"""
    total_steps: Optional[int] = None
    """env steps per seed, cut to whole updates of num_envs x num_steps; 1e7 is fine (default: from the preset)"""
    num_envs: Optional[int] = None
    """parallel envs per seed (default: from the preset)"""
    num_steps: Optional[int] = None
    """rollout length T per update (default: from the preset)"""
    num_epochs: Optional[int] = None
    """PPO epochs over each rollout (default: from the preset)"""
    num_minibatches: Optional[int] = None
    """minibatches per epoch (default: from the preset)"""
    lr: Optional[float] = None
    """learning rate, Adam (default: from the preset)"""
    gamma: Optional[float] = None
    """discount (default: from the preset)"""
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: Optional[float] = None
    """entropy bonus coefficient (default: from the preset)"""
    vf_coef: float = 1.0
    max_grad_norm: float = 10.0
    """gradient clipping norm"""
    grad_clip: GradClip = "per_network"
    """per_network: actor, critic and DAG nets clipped separately (MAPPO's separate optimisers) | global"""
    huber_delta: float = 10.0
    ratio: Ratio = "agent"
    """PPO ratio: agent (per-agent, MAPPO) | joint (product over agents)"""
    hidden: int = 64
    recurrent: Recurrent = "none"
    """none (feed-forward networks) | gru: a GRU in front of every agent's actor and of the critic (parent-free: the
    parents' actions enter after it), reset at episode ends, trained by BPTT over each rollout; minibatches then
    split the envs"""
    gru_hidden: Optional[int] = None
    """--recurrent gru: the GRU's width (default 64)"""
    dag_input: DagInput = "obs"
    """what the edge and permutation nets read (--dag context): obs (the step's observations, the paper's) | memory
    (the agents' GRU states after this step's observation, with --recurrent gru; the DAG's gradient then reaches the
    GRUs)"""
    arch: Optional[Arch] = None
    """actor architecture (Table 2; default: from the preset)"""
    learn_order: Optional[bool] = None
    """context mode: learn the topological order Π (else Π = I, the paper's SMAC setting) (default: from the
    preset)"""
    deepset_edges: Optional[bool] = None
    """context mode: the edge net reads the joint observation as a set (a DeepSet: per-agent encoder, mean over
    agents; Table 2's for CG) (default: from the preset)"""
    sinkhorn_iters: Optional[int] = None
    """context mode with a learned order: Gumbel-Sinkhorn iterations L behind the permutation's straight-through
    gradient (default: the paper's 20). Only the PPO update runs them (sampling takes the exact assignment alone), so L
    changes the estimator, not the sampled orders; fewer is faster (docs/reproduction.md, "Sinkhorn iterations")"""
    mask_invisible_parents: Optional[bool] = None
    """SMAX: a parent the child cannot see contributes zeros (the authors' code) (default: from the preset)"""
    parent_obs: Optional[bool] = None
    """Aloha: parents also pass their observations (default: from the preset)"""
    anneal: Optional[Anneal] = None
    """density annealing schedule in context mode (paper §7.4.4; default: MMM2 on smax_MMM/MMM2, 6h_vs_8z on
    other SMAX maps, none on CG and Aloha)"""
    updates_per_chunk: Optional[int] = None
    """PPO updates per jitted chunk (default: about 50k env steps and at most 1/50 of the run)"""
    run_dir: Optional[str] = None
    """output directory (config.json, metrics.jsonl, checkpoints) (default: runs/<env>_<dag>_<time>[-k], new)"""
    checkpoint: bool = True
    """write atomic checkpoints (every --checkpoint-every-s seconds and at the end); resume with --resume"""
    checkpoint_every_s: float = 300.0
    """seconds between checkpoints (0: after every chunk)"""
    keep_checkpoints: int = 3
    """how many of the newest checkpoints to keep"""
    resume: bool = False
    """continue the run in --run-dir from its last good checkpoint"""
    eval_episodes: Optional[int] = None
    """episodes per evaluation, periodic and final (joint policy and decentralised, DAG removed; sampled and
    greedy); 0: no evaluation (default: 100 on CG and Aloha as in the paper, 32 on SMAX, 0 on sc2_<map>)"""
    eval_every: Optional[int] = None
    """updates between periodic evaluations, written to RUN_DIR/eval.jsonl (default: about 20 per run; 0: only
    the final one)"""
    absolute_episodes: int = 0
    """the protocol's absolute metric (Gorsane et al. 2022): after training, the final parameters evaluated once
    more over this many episodes (the protocol: 10 x --eval-episodes), written to RUN_DIR/absolute.jsonl; a
    finished run resumed with it computes it then; 0: none"""
    tensorboard: bool = False
    """also write TensorBoard event files to RUN_DIR/tb/seed_<k> (RUN_DIR/tb/<sweep point>/seed_<k> in a sweep)"""
    sweep: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """NAME=v1,v2,...: train every value (repeatable: the grid product of the axes, times --num-seeds, in one
    compiled program). Sweepable: lr, max_grad_norm, clip_eps, vf_coef, ent_coef, huber_delta, gamma, gae_lambda,
    and with --dag context and annealing alpha0, alpha1, anneal_a, anneal_b, anneal_c (the η/α schedule's
    fractions a, b, c)"""
    data_parallel: int = 1
    """devices per run (the mesh's data axis): a run's envs are split over them and its gradients averaged; the
    runs are spread over the other factor, jax.device_count() / data_parallel (the runs axis)"""
    memory_check: bool = True
    """refuse before compiling when the estimated memory per device exceeds the device's (an estimate)"""
    deterministic: bool = False
    """ask XLA for deterministic GPU kernels (no atomics in reductions and scatters: same seed, same numbers on a
    GPU too, at some speed); the CPU's programs are deterministic without it"""
    coordinator: Optional[str] = None
    """multi-host: HOST:PORT of process 0 (default $JAX_COORDINATOR_ADDRESS); starts jax.distributed"""
    num_processes: Optional[int] = None
    """multi-host: number of processes (default $JAX_NUM_PROCESSES)"""
    process_id: Optional[int] = None
    """multi-host: index of this process, 0 .. num_processes - 1 (default $JAX_PROCESS_ID)"""

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

    @property
    def num_points(self) -> int:
        """Sweep points (1 without --sweep)."""
        return sweep.num_points(self)

    @property
    def num_runs(self) -> int:
        """Runs trained together: sweep points × seeds (the leading axis of the train state)."""
        return self.num_points * self.num_seeds


def _choice(name, value, choices):
    try:
        check_choice(name, value, choices)
    except ValueError as e:
        raise UserError(str(e)) from None


def default_updates_per_chunk(num_updates: int, batch_size: int, target_steps: int = 50_000) -> int:
    """About 50k env steps (and at most 1/50 of the run) per jitted chunk, dividing the updates evenly."""
    target = max(1, min(num_updates // 50, -(-target_steps // batch_size)))
    return max(k for k in range(1, target + 1) if num_updates % k == 0)


def resolve(cfg: Config) -> Config:
    """Fill preset defaults and validate. Raises UserError naming the bad value and the valid choices."""
    if not envs_jax.is_factory_spec(cfg.env):
        _choice("env", cfg.env, train_names())
    env_kwargs, env_rules = parse_env_kwargs(cfg.env_kwargs), parse_env_rules(cfg.env_rules)
    if not is_sc2(cfg.env):
        array_env = check_env(cfg.env, env_kwargs, env_rules)
        try:
            cfg = dataclasses.replace(cfg, torso=torso_for(cfg.torso, array_env.obs_shape))
        except ValueError as e:
            raise UserError(str(e)) from None
    elif env_kwargs or env_rules:
        raise UserError(f"env_kwargs {list(cfg.env_kwargs)} / env_rules {list(cfg.env_rules)}: the real StarCraft II "
                        f"({cfg.env}) takes neither")
    elif cfg.torso == "cnn":
        raise UserError(f"torso='cnn': the real StarCraft II ({cfg.env}) has vector observations; use mlp")
    else:
        cfg = dataclasses.replace(cfg, torso="mlp")
    cfg = _resolve_sc2(cfg)
    _choice("dag", cfg.dag, get_args(DagMode))
    preset = cfg.preset or preset_for_env(cfg.env)
    _choice("preset", preset, PRESETS)
    values = {"preset": preset}
    for k, v in preset_values(cfg.env, preset).items():
        if getattr(cfg, k) is None:
            values[k] = v
    if cfg.reward_shaping_horizon is None:
        values["reward_shaping_horizon"] = _SHAPING.get(preset, 0)
    given = cfg  # what the command line (or caller) set; None: left to the preset
    cfg = dataclasses.replace(cfg, **values, sinkhorn_iters=SINKHORN_ITERS if cfg.sinkhorn_iters is None
                              else cfg.sinkhorn_iters)
    _choice("ratio", cfg.ratio, get_args(Ratio))
    _choice("grad_clip", cfg.grad_clip, get_args(GradClip))
    _choice("arch", cfg.arch, get_args(Arch))
    _choice("anneal", cfg.anneal, get_args(Anneal))
    _choice("recurrent", cfg.recurrent, RECURRENT)
    _choice("dag_input", cfg.dag_input, DAG_INPUTS)
    if cfg.recurrent == "gru" and cfg.gru_hidden is None:
        cfg = dataclasses.replace(cfg, gru_hidden=GRU_HIDDEN)
    if cfg.gru_hidden is not None and (isinstance(cfg.gru_hidden, bool) or not isinstance(cfg.gru_hidden, int)
                                       or cfg.gru_hidden < 1):
        raise UserError(f"gru_hidden must be a positive integer, got {cfg.gru_hidden!r}")
    for name in ("num_seeds", "total_steps", "num_envs", "num_steps", "num_epochs", "num_minibatches", "hidden",
                 "keep_checkpoints", "sinkhorn_iters"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"{name} must be a positive integer, got {v!r}")
    for name in ("lr", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef", "max_grad_norm", "huber_delta",
                 "checkpoint_every_s"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise UserError(f"{name} must be a finite number, got {v!r}")
    for name in ("lr", "clip_eps", "max_grad_norm", "huber_delta"):
        v = getattr(cfg, name)
        if not v > 0:
            raise UserError(f"{name} must be > 0, got {v!r}")
    for name in ("gamma", "gae_lambda"):
        v = getattr(cfg, name)
        if not 0 < v <= 1:
            raise UserError(f"{name} must lie in (0, 1], got {v!r}")
    for name in ("ent_coef", "vf_coef", "checkpoint_every_s"):
        if getattr(cfg, name) < 0:
            raise UserError(f"{name} must be >= 0, got {getattr(cfg, name)!r}")
    if isinstance(cfg.eval_episodes, bool) or not isinstance(cfg.eval_episodes, int) or cfg.eval_episodes < 0:
        raise UserError(f"eval_episodes must be an integer >= 0, got {cfg.eval_episodes!r}")
    if isinstance(cfg.absolute_episodes, bool) or not isinstance(cfg.absolute_episodes, int) \
            or cfg.absolute_episodes < 0:
        raise UserError(f"absolute_episodes must be an integer >= 0, got {cfg.absolute_episodes!r}")
    if cfg.absolute_episodes and not cfg.eval_episodes:
        raise UserError(f"--absolute-episodes {cfg.absolute_episodes}: evaluation is off (eval_episodes is 0); "
                        f"give --eval-episodes N as well")
    if cfg.eval_every is None:
        cfg = dataclasses.replace(cfg, eval_every=max(1, round(cfg.num_updates / 20)))
    elif isinstance(cfg.eval_every, bool) or not isinstance(cfg.eval_every, int) or cfg.eval_every < 0:
        raise UserError(f"eval_every must be an integer >= 0 (updates; 0: no periodic evaluation), got {cfg.eval_every!r}")
    if isinstance(cfg.reward_shaping_horizon, bool) or not isinstance(cfg.reward_shaping_horizon, int) \
            or cfg.reward_shaping_horizon < 0:
        raise UserError(f"reward_shaping_horizon must be an integer >= 0 (env steps), got {cfg.reward_shaping_horizon!r}")
    check_seeds("seed", cfg.seed, cfg.num_seeds)
    if cfg.batch_size % cfg.num_minibatches:
        raise UserError(
            f"num_envs * num_steps = {cfg.num_envs} * {cfg.num_steps} = {cfg.batch_size} is not divisible by "
            f"num_minibatches = {cfg.num_minibatches}; choose a divisor of {cfg.batch_size}"
        )
    if cfg.recurrent == "gru" and cfg.num_envs % cfg.num_minibatches:
        raise UserError(
            f"--recurrent gru: the minibatches split the envs (each keeps its whole sequence for the GRU's replay), "
            f"and num_minibatches = {cfg.num_minibatches} does not divide num_envs = {cfg.num_envs}; choose a divisor "
            f"of {cfg.num_envs}"
        )
    if cfg.total_steps >= MAX_STEPS:
        raise UserError(f"total_steps = {cfg.total_steps} is too large: the step counters are int32, so a run has at "
                        f"most {MAX_STEPS - 1:,} env steps per seed; train in several runs or fewer steps")
    if cfg.total_steps < cfg.batch_size:
        raise UserError(
            f"total_steps = {cfg.total_steps} is smaller than one rollout (num_envs * num_steps = {cfg.batch_size})"
        )
    if cfg.updates_per_chunk is None:
        cfg = dataclasses.replace(cfg, updates_per_chunk=default_updates_per_chunk(cfg.num_updates, cfg.batch_size))
    elif isinstance(cfg.updates_per_chunk, bool) or not isinstance(cfg.updates_per_chunk, int) or cfg.updates_per_chunk < 1:
        raise UserError(f"updates_per_chunk must be a positive integer, got {cfg.updates_per_chunk!r}")
    if not cfg.resume:  # a resume checks the updates that remain (jbn.train.run)
        check_chunking(cfg.num_updates, cfg.updates_per_chunk)
    if cfg.resume and cfg.run_dir is None:
        raise UserError("--resume needs --run-dir (the run to continue)")
    if isinstance(cfg.data_parallel, bool) or not isinstance(cfg.data_parallel, int) or cfg.data_parallel < 1:
        raise UserError(f"data_parallel must be a positive integer, got {cfg.data_parallel!r}")
    if cfg.num_envs % cfg.data_parallel:
        raise UserError(f"--data-parallel {cfg.data_parallel} does not divide num_envs = {cfg.num_envs} (each "
                        f"device of a run steps num_envs / data_parallel envs)")
    if cfg.recurrent == "gru" and (cfg.num_envs // cfg.num_minibatches) % cfg.data_parallel:
        raise UserError(f"--data-parallel {cfg.data_parallel} does not divide the {cfg.num_envs // cfg.num_minibatches} "
                        f"envs of a minibatch (num_envs / num_minibatches with --recurrent gru; each device takes an "
                        f"equal share)")
    if cfg.minibatch_size % cfg.data_parallel:
        raise UserError(f"--data-parallel {cfg.data_parallel} does not divide the minibatch size {cfg.minibatch_size} "
                        f"(num_envs * num_steps / num_minibatches; each device takes an equal share)")
    if not cfg.resume and not _resolved(given):  # a saved or resolved config was checked when first resolved
        refuse_idle_flags(given, cfg)
    return dataclasses.replace(cfg, sweep=sweep.check(cfg))


def check_seeds(name: str, first: int, count: int = 1, offset: int = 0) -> None:
    """UserError unless the seeds first + offset .. first + offset + count - 1 are PRNGKey seeds (0 .. SEED_LIMIT - 1):
    a larger one would wrap silently onto a small one (2**32 trains as seed 0). offset: a key derived from the seed
    (the evaluation's, `jbn.evaluation.EVAL_SEED_OFFSET`)."""
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        raise UserError(f"{name} must be an integer >= 0, got {first!r}")
    last = first + offset + count - 1
    if last >= SEED_LIMIT:
        top = SEED_LIMIT - 1 - offset - (count - 1)
        used = ([f"{count} seeds"] if count > 1 else []) + ([f"the evaluation's seed offset {offset:,}"] if offset else [])
        raise UserError(f"{name} {first} is too large: PRNG keys take seeds 0 .. {SEED_LIMIT - 1} (32 bits; a larger "
                        f"one wraps onto a small one)" + (f", and with {' and '.join(used)} the {name} must be at most "
                                                          f"{top}" if used else ""))


def _describe(hint) -> str:
    """What a value of a Config field's type is, in words (for a config.json edited by hand)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return _describe(args[0])
    if origin is Union:
        return " or ".join(_describe(a) for a in args if a is not type(None)) + " or null"
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    if origin is tuple:
        return "a list of strings"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))


def _is_of(value, hint) -> bool:
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return _is_of(value, args[0])
    if origin is Union:
        return any(_is_of(value, a) for a in args)
    if origin is Literal:
        return not isinstance(value, bool) and value in args
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_types(values: dict, where: str) -> None:
    """UserError naming the first field of `values` (a config.json: JSON values, lists for tuples) whose value is not
    of its Config field's type; `where` names the file. Unknown names are the caller's to refuse."""
    hints = typing.get_type_hints(Config, include_extras=True)
    for name, value in values.items():
        if name in hints and not _is_of(value, hints[name]):
            raise UserError(f"{where}: {name} is {json.dumps(value)}, not {_describe(hints[name])}")


def has_shaped_reward(cfg: Config) -> bool:
    """Whether the env reports a shaped reward (Overcooked) that --reward-shaping-horizon anneals."""
    if is_sc2(cfg.env):
        return False
    env = envs_jax.make(cfg.env, **parse_env_kwargs(cfg.env_kwargs))
    return envs_jax.ArrayEnv(env, **parse_env_rules(cfg.env_rules)).family.has_shaped_reward


def _resolved(cfg: Config) -> bool:
    """Whether cfg is already resolved (every preset field and every derived default filled): a config.json, or a
    `resolve` result given again, whose fields were not chosen one by one."""
    fields = set(_PRESET_VALUES["cg"]) | {"preset", "sinkhorn_iters", "eval_every", "updates_per_chunk"}
    return all(getattr(cfg, name) is not None for name in fields)


def refuse_idle_flags(given: Config, cfg: Config) -> None:
    """UserError for a field set by the user (`given`, before presets) that cannot act in the resolved `cfg`: a flag
    that would be silently ignored is refused, with the reason and what would make it act."""
    context = is_learned(cfg.dag)
    why = []
    if given.anneal is not None and not context:
        why.append(f"--anneal {given.anneal}: the density schedule acts on the learned DAG only (--dag context), and "
                   f"dag is {cfg.dag!r}")
    for name in ("learn_order", "deepset_edges"):
        if getattr(given, name) is not None and not context:
            why.append(f"--{name.replace('_', '-')}: the edge and permutation nets exist only with --dag context, and "
                       f"dag is {cfg.dag!r}")
    if given.sinkhorn_iters is not None and not (context and cfg.learn_order):
        reason = f"dag is {cfg.dag!r}" if not context else "the order is fixed (learn_order false: Π = I)"
        why.append(f"--sinkhorn-iters {given.sinkhorn_iters}: Gumbel-Sinkhorn runs only for a learned order "
                   f"(--dag context with learn_order true), and {reason}")
    smax = smax_twin(cfg.env).startswith("smax_")
    if given.mask_invisible_parents is not None and (not has_parents(cfg.dag) or not smax):
        reason = "with --dag none no agent has parents" if not has_parents(cfg.dag) else f"{cfg.env} has no visibility"
        why.append(f"--mask-invisible-parents: it masks parents the child cannot see on SMAX maps, and {reason}")
    if given.parent_obs is not None and not has_parents(cfg.dag):
        why.append("--parent-obs: with --dag none no agent has parents whose observations it could read")
    if given.gru_hidden is not None and cfg.recurrent != "gru":
        why.append(f"--gru-hidden {given.gru_hidden}: only a recurrent policy has a GRU (--recurrent gru), and "
                   f"recurrent is {cfg.recurrent!r}")
    if given.dag_input == "memory" and not (context and cfg.recurrent == "gru"):
        reason = f"dag is {cfg.dag!r}" if not context else f"recurrent is {cfg.recurrent!r}"
        why.append(f"--dag-input memory: the edge and permutation nets (--dag context) read the agents' GRU states "
                   f"(--recurrent gru), and {reason}")
    if given.reward_shaping_horizon not in (None, 0) and not has_shaped_reward(cfg):
        why.append(f"--reward-shaping-horizon {given.reward_shaping_horizon}: {cfg.env} has no shaped reward to anneal")
    if cfg.torso == "cnn" and (cfg.arch == "aloha" or cfg.parent_obs):
        why.append("--torso cnn: the aloha arch and --parent-obs feed the parents' raw observations to a dense layer; "
                   "use --arch smax or cg without --parent-obs")
    if given.eval_every not in (None, 0) and cfg.eval_episodes == 0:
        why.append(f"--eval-every {given.eval_every}: eval_episodes is 0, so no evaluation runs")
    if why:
        raise UserError("; ".join(why) + ". Leave the flag out (or choose a configuration where it acts)")


def _resolve_sc2(cfg: Config) -> Config:
    """The real game's fields (cfg.env is a valid name). On sc2_<map>: the layout (default smax, which needs
    SMAX's smax_<map>), one seed (one set of games), one update per host-side rollout, and no periodic
    evaluation unless asked for (each costs 4 x eval_episodes games). Elsewhere sc2_layout must be unset."""
    if not is_sc2(cfg.env):
        if cfg.sc2_layout is not None:
            raise UserError(f"sc2_layout={cfg.sc2_layout!r} applies to the real StarCraft II only (--env sc2_<map>); "
                            f"env is {cfg.env!r}")
        return cfg
    layout = cfg.sc2_layout or "smax"
    _choice("sc2_layout", layout, SC2_LAYOUTS)
    if layout == "smax" and smax_twin(cfg.env) not in envs_jax.names():
        playable = [n for n in sc2_names() if smax_twin(n) in envs_jax.names()]
        raise UserError(
            f"env={cfg.env!r} with sc2_layout='smax' needs the SMAX scenario {smax_twin(cfg.env)!r}, which SMAX lacks; "
            f"use --sc2-layout smac, or a map SMAX has: {', '.join(playable)}"
        )
    if cfg.num_seeds != 1:
        raise UserError(f"num_seeds={cfg.num_seeds!r}: training on the real StarCraft II ({cfg.env}) runs one seed; "
                        "start one command per seed (--seed k)")
    if cfg.sweep:
        raise UserError(f"sweep={list(cfg.sweep)!r}: training on the real StarCraft II ({cfg.env}) runs one set of "
                        "hyper-parameters; start one command per sweep point")
    if cfg.updates_per_chunk not in (None, 1):
        raise UserError(f"updates_per_chunk={cfg.updates_per_chunk!r}: on the real StarCraft II ({cfg.env}) each PPO "
                        "update follows its own host-side rollout; leave it unset (1)")
    eval_episodes = 0 if cfg.eval_episodes is None else cfg.eval_episodes
    return dataclasses.replace(cfg, sc2_layout=layout, updates_per_chunk=1, eval_episodes=eval_episodes)


def check_chunking(remaining_updates: int, updates_per_chunk: int) -> None:
    """Every chunk runs the same compiled program, so the chunk size must divide the updates to run."""
    if remaining_updates % updates_per_chunk:
        divisors = [k for k in range(1, min(remaining_updates, 10_000) + 1) if remaining_updates % k == 0]
        shown = ", ".join(map(str, divisors[:12])) + (", ..." if len(divisors) > 12 else "")
        raise UserError(
            f"updates_per_chunk = {updates_per_chunk} does not divide the {remaining_updates} updates to run "
            f"(every chunk runs the same compiled program); choose a divisor: {shown}"
        )
