"""The training config's sections: one frozen dataclass per concern, each declaring its fields once and checking them.

    EnvConfig      cfg.environment   which env, its keyword arguments and rules, the preset
    DagConfig      cfg.graph         the joint policy's DAG: mode, learned order, Sinkhorn, density annealing
    PpoConfig      cfg.ppo           the rollout sizes and PPO's hyper-parameters (batch sizes derived)
    NetworkConfig  cfg.networks      the actor's architecture, widths, torso, recurrence
    RunConfig      cfg.run           seeds, sweep, chunks, the run directory, checkpoints, logging
    EvalConfig     cfg.evaluation    periodic, final and absolute evaluation
    DeviceConfig   cfg.devices       devices per run, memory check, determinism, multi-host

`Config` (jbn/training/config.py) is all of them at once. Each section's `check()` raises the UserError of its first
bad field (naming the value and the valid range); it reads nothing outside its own section, so the checks that join
sections (a minibatch of envs per device, the sweep against the DAG, the real game's limits) stay in
`config.resolve`. A field that may be None before `resolve` (filled from the preset) is checked after it is filled.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Literal, Optional, get_args

import tyro

import envs_jax
from envs_jax.registry import check_choice, train_names

from ..policy.dag_modes import DagMode
from ..policy.networks import Arch
from ..policy.torso import TorsoKind
from . import schedules, sweep
from .errors import UserError
from .ppo import GradClip, Ratio
from .types import SWEEPABLE

Preset = Literal["cg", "aloha", "smax", "mpe", "overcooked", "lbf", "rware", "connector", "cleaner", "matrax",
                 "custom"]
PRESETS: tuple[str, ...] = get_args(Preset)
Anneal = Literal["6h_vs_8z", "MMM2", "none"]
assert set(get_args(Anneal)) == set(schedules.PRESETS), "Anneal must list schedules.PRESETS"
Recurrent = Literal["none", "gru"]
RECURRENT: tuple[str, ...] = get_args(Recurrent)
DagInput = Literal["obs", "memory"]
DAG_INPUTS: tuple[str, ...] = get_args(DagInput)
SC2Layout = Literal["smax", "smac"]
SC2_LAYOUTS: tuple[str, ...] = get_args(SC2Layout)
MAX_STEPS = 2**31  # env steps per seed: the update and step counters of the compiled program are int32
SEED_LIMIT = 2**32  # jax.random.PRNGKey takes a seed as an unsigned 32-bit integer: larger ones wrap (2**32 is seed 0)


# ------------------------------------------------------------------------------------------- the checks' words
def choice(name: str, value, choices) -> None:
    """UserError unless value is one of choices ("... is not valid. Did you mean ...?")."""
    try:
        check_choice(name, value, choices)
    except ValueError as e:
        raise UserError(str(e)) from None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def positive_int(name: str, v) -> None:
    if not _is_int(v) or v < 1:
        raise UserError(f"{name} must be a positive integer, got {v!r}")


def nonnegative_int(name: str, v, unit: str = "") -> None:
    """UserError unless v is an integer >= 0; unit says what it counts, e.g. " (env steps)"."""
    if not _is_int(v) or v < 0:
        raise UserError(f"{name} must be an integer >= 0{unit}, got {v!r}")


def finite(name: str, v) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise UserError(f"{name} must be a finite number, got {v!r}")


def in_range(name: str, v) -> None:
    """A sweepable value within the range `types.SWEEPABLE` declares for it (the one declaration of its range)."""
    finite(name, v)
    spec = SWEEPABLE[name]
    if not spec.ok(v):
        raise UserError(f"{name} must {'lie' if spec.valid.startswith('in ') else 'be'} {spec.valid}, got {v!r}")


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
        choice("env_rules key", key, list(ENV_RULES))
        want = ENV_RULES[key]
        if isinstance(value, bool) or not isinstance(value, want):
            raise UserError(f"env_rules {key}={value!r}: expected a {want.__name__}")
    return rules


def is_sc2(env: str) -> bool:
    """The real StarCraft II (a host-side env), not a JAX env."""
    return env.startswith("sc2_")


# ------------------------------------------------------------------------------------------- the sections
@dataclass(frozen=True)
class EnvConfig:
    """Which env is trained, with which arguments and rules, and the preset the other sections' defaults come from."""

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
    reward_shaping_horizon: Optional[int] = None
    """env steps over which the env's shaped reward (Overcooked) is annealed from weight 1 to 0 (default: 2.5e6 on
    Overcooked, as JaxMARL's IPPO; 0: no shaping)"""
    sc2_layout: Optional[SC2Layout] = None
    """sc2_<map> only: smax (SMAX's observations and actions, as smax_<map> trains; default) | smac (SMAC's)"""
    preset: Optional[Preset] = None
    """hyper-parameter preset (default: from the env name)"""

    def check(self) -> None:
        """The env's name, its keyword arguments and rules (parsed, not yet built), the layout and the preset.
        None (the preset's) is accepted for reward_shaping_horizon and preset."""
        if not envs_jax.is_factory_spec(self.env):
            try:
                choice("env", self.env, train_names())
            except UserError as e:
                raise UserError(f"{e}; or any env of your own as --env 'package.module:factory' (README: "
                                f"'Your own env in one file')") from None
        parse_env_kwargs(self.env_kwargs)
        parse_env_rules(self.env_rules)
        if self.sc2_layout is not None:
            if not is_sc2(self.env):
                raise UserError(f"sc2_layout={self.sc2_layout!r} applies to the real StarCraft II only (--env "
                                f"sc2_<map>); env is {self.env!r}")
            choice("sc2_layout", self.sc2_layout, SC2_LAYOUTS)
        if self.preset is not None:
            choice("preset", self.preset, PRESETS)
        if self.reward_shaping_horizon is not None:
            nonnegative_int("reward_shaping_horizon", self.reward_shaping_horizon, " (env steps)")


@dataclass(frozen=True)
class DagConfig:
    """The joint policy's DAG (paper §5-§6): its mode and, for the learned one, its nets, order and density
    schedule."""

    dag: DagMode = "context"
    """joint policy: none (plain MAPPO) | line | full | context (learned per step)"""
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
    edge_prior: float = 0.5
    """context mode: each edge's probability at initialisation (the edge net's output bias is logit(p) for the edge
    class, its weights start near 0). 0.5 is the paper's (an unbiased start); near 1 starts the learned DAG full, what
    the first phase of annealing (η = 1) asks for, instead of reaching it over training"""
    dag_input: DagInput = "obs"
    """what the edge and permutation nets read (--dag context): obs (the step's observations, the paper's) | memory
    (the agents' GRU states after this step's observation, with --recurrent gru; the DAG's gradient then reaches the
    GRUs)"""

    @property
    def anneal_config(self) -> schedules.AnnealConfig:
        return schedules.PRESETS[self.anneal]

    def check(self) -> None:
        """Resolved: the mode, the schedule, what the DAG nets read, L."""
        choice("dag", self.dag, get_args(DagMode))
        choice("anneal", self.anneal, get_args(Anneal))
        choice("dag_input", self.dag_input, DAG_INPUTS)
        positive_int("sinkhorn_iters", self.sinkhorn_iters)
        finite("edge_prior", self.edge_prior)
        if not 0.0 < self.edge_prior < 1.0:
            raise UserError(f"edge_prior must lie in (0, 1) (a probability; 0 and 1 are infinite logits), got "
                            f"{self.edge_prior!r}")


@dataclass(frozen=True)
class PpoConfig:
    """The rollout's sizes and PPO's hyper-parameters. The sweepable ones' ranges are declared in `types.SWEEPABLE`."""

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
    lr_anneal: bool = False
    """anneal the learning rate linearly from lr to 0 over the run, one value per update (PureJaxRL's and JaxMARL's
    ANNEAL_LR)"""
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

    def check(self) -> None:
        """Resolved: the choices, the sizes (positive, the batch split evenly, int32 step counters, at least one
        rollout) and every hyper-parameter in its range."""
        choice("ratio", self.ratio, get_args(Ratio))
        choice("grad_clip", self.grad_clip, get_args(GradClip))
        for name in ("total_steps", "num_envs", "num_steps", "num_epochs", "num_minibatches"):
            positive_int(name, getattr(self, name))
        for name in ("lr", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef", "max_grad_norm", "huber_delta"):
            in_range(name, getattr(self, name))
        if self.batch_size % self.num_minibatches:
            raise UserError(
                f"num_envs * num_steps = {self.num_envs} * {self.num_steps} = {self.batch_size} is not divisible by "
                f"num_minibatches = {self.num_minibatches}; choose a divisor of {self.batch_size}"
            )
        if self.total_steps >= MAX_STEPS:
            raise UserError(f"total_steps = {self.total_steps} is too large: the step counters are int32, so a run has "
                            f"at most {MAX_STEPS - 1:,} env steps per seed; train in several runs or fewer steps")
        if self.total_steps < self.batch_size:
            raise UserError(
                f"total_steps = {self.total_steps} is smaller than one rollout (num_envs * num_steps = "
                f"{self.batch_size})"
            )


@dataclass(frozen=True)
class NetworkConfig:
    """The networks: how they read an observation, the actor's architecture, widths and recurrence."""

    torso: TorsoKind = "auto"
    """how the networks read one observation: mlp (a vector; grids flattened, their first dense layer is the torso) |
    cnn (grids [H, W, C] through Conv(32,3x3)-Conv(32,3x3)-FC, in the actor, the critic and the DAG nets) | auto (cnn
    for grid observations: Overcooked, Connector, Cleaner; mlp otherwise)"""
    hidden: int = 64
    recurrent: Recurrent = "none"
    """none (feed-forward networks) | gru: a GRU in front of every agent's actor and of the critic (parent-free: the
    parents' actions enter after it), reset at episode ends, trained by BPTT over each rollout; minibatches then
    split the envs"""
    gru_hidden: Optional[int] = None
    """--recurrent gru: the GRU's width (default 64)"""
    arch: Optional[Arch] = None
    """actor architecture (Table 2; default: from the preset)"""

    def check(self) -> None:
        """Resolved: the architecture, the recurrence and the widths."""
        choice("arch", self.arch, get_args(Arch))
        choice("recurrent", self.recurrent, RECURRENT)
        if self.gru_hidden is not None:
            positive_int("gru_hidden", self.gru_hidden)
        positive_int("hidden", self.hidden)


@dataclass(frozen=True)
class RunConfig:
    """The runs trained together (seeds × sweep points), the chunks they run in, and what they write."""

    num_seeds: int = 1
    """independent seeds trained together under vmap"""
    seed: int = 0
    """first seed; seed k of the batch uses seed + k"""
    sweep: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """NAME=v1,v2,...: train every value (repeatable: the grid product of the axes, times --num-seeds, in one
    compiled program). Sweepable: lr, max_grad_norm, clip_eps, vf_coef, ent_coef, huber_delta, gamma, gae_lambda,
    and with --dag context and annealing alpha0, alpha1, anneal_a, anneal_b, anneal_c (the η/α schedule's
    fractions a, b, c)"""
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
    tensorboard: bool = False
    """also write TensorBoard event files to RUN_DIR/tb/seed_<k> (RUN_DIR/tb/<sweep point>/seed_<k> in a sweep)"""

    @property
    def num_points(self) -> int:
        """Sweep points (1 without --sweep)."""
        return sweep.num_points(self)

    @property
    def num_runs(self) -> int:
        """Runs trained together: sweep points × seeds (the leading axis of the train state)."""
        return self.num_points * self.num_seeds

    def check(self) -> None:
        """The seeds, the chunk size where given, the checkpoints' cadence, a resume's directory. (The sweep is
        checked against the DAG and the schedule in `config.resolve`.)"""
        positive_int("num_seeds", self.num_seeds)
        positive_int("keep_checkpoints", self.keep_checkpoints)
        finite("checkpoint_every_s", self.checkpoint_every_s)
        if self.checkpoint_every_s < 0:
            raise UserError(f"checkpoint_every_s must be >= 0, got {self.checkpoint_every_s!r}")
        check_seeds("seed", self.seed, self.num_seeds)
        if self.updates_per_chunk is not None:
            positive_int("updates_per_chunk", self.updates_per_chunk)
        if self.resume and self.run_dir is None:
            raise UserError("--resume needs --run-dir (the run to continue)")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation during and after training (jbn.evaluation)."""

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

    def check(self) -> None:
        """Resolved: the episode counts, and an absolute metric only with evaluation on. eval_every may be None
        (about 20 per run, filled by `config.resolve` from the run's updates)."""
        nonnegative_int("eval_episodes", self.eval_episodes)
        nonnegative_int("absolute_episodes", self.absolute_episodes)
        if self.absolute_episodes and not self.eval_episodes:
            raise UserError(f"--absolute-episodes {self.absolute_episodes}: evaluation is off (eval_episodes is 0); "
                            f"give --eval-episodes N as well")
        if self.eval_every is not None:
            nonnegative_int("eval_every", self.eval_every, " (updates; 0: no periodic evaluation)")


@dataclass(frozen=True)
class DeviceConfig:
    """Where the runs execute: devices per run, the memory check, deterministic kernels, the hosts of a multi-host
    run."""

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

    def check(self) -> None:
        positive_int("data_parallel", self.data_parallel)


# (property name on Config, section), in the order of the flags
SECTIONS: tuple[tuple[str, type], ...] = (
    ("environment", EnvConfig), ("graph", DagConfig), ("ppo", PpoConfig), ("networks", NetworkConfig),
    ("run", RunConfig), ("evaluation", EvalConfig), ("devices", DeviceConfig),
)


def section_of(cfg, cls):
    """The section `cls` of a Config: its fields' values as their own frozen dataclass."""
    return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})
