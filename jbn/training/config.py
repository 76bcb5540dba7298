"""Training configuration: frozen sections, per-env presets, validation before any compile.

`Config` is the training run's configuration: the union of its seven sections (jbn/training/sections.py: env, DAG,
PPO, networks, run, evaluation, devices), each a frozen dataclass that declares its fields once and checks them.
`resolve(cfg)` fills every field left as None from the env's preset (paper Table 2; docs/architecture.md §4), has
each section check itself and checks what joins sections. `sc2_<map>` (the real StarCraft II, trained by
jbn/driver/game_stepper.py) takes the `smax` preset of `smax_<map>`, with fewer envs: each is a game process. tyro
turns `Config` into the CLI of `python -m jbn.train`; the `Literal` fields list their choices in `--help`.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from typing import Annotated, Literal, Union, get_args, get_origin

import envs_jax
from envs_jax.registry import sc2_names

from ..policy.dag_modes import has_parents, is_learned
from ..policy.torso import torso_for
from . import sweep
from .errors import UserError  # noqa: F401  (re-exported: jbn.training.config.UserError)
from .sections import (  # noqa: F401  (re-exported: the names of a config's values and checks)
    DAG_INPUTS, ENV_RULES, MAX_STEPS, PRESETS, RECURRENT, SC2_LAYOUTS, SECTIONS, SEED_LIMIT, Anneal, DagConfig,
    DagInput, DeviceConfig, EnvConfig, EvalConfig, NetworkConfig, PpoConfig, Preset, Recurrent, RunConfig, SC2Layout,
    check_seeds, choice, is_sc2, parse_env_kwargs, parse_env_rules, section_of,
)

GRU_HIDDEN = 64  # default GRU width (JaxMARL's MAPPO-RNN uses 128)
SINKHORN_ITERS = 20  # the paper's L


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


def check_env(env: str, env_kwargs: dict, env_rules: dict):
    """Build the env once (no compile) so that a bad factory, kwarg or rule is one error before anything starts.
    Returns the ArrayEnv."""
    try:
        return envs_jax.ArrayEnv(envs_jax.make(env, **env_kwargs), **env_rules)
    except (ValueError, TypeError) as e:
        limit = "no episode limit" in str(e) and "max_steps" not in env_rules
        hint = " (give it with --env-rules max_steps=N)" if limit else ""
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
class Config(DeviceConfig, EvalConfig, RunConfig, NetworkConfig, PpoConfig, DagConfig, EnvConfig):
    """BN-MAPPO training run. Fields left as None come from the env's preset.

    The configuration in sections (jbn/training/sections.py), each a frozen dataclass that declares its fields and
    checks them (`check()`):

        cfg.environment  EnvConfig      env, env_kwargs, env_rules, reward_shaping_horizon, sc2_layout, preset
        cfg.graph        DagConfig      dag, learn_order, deepset_edges, sinkhorn_iters, mask_invisible_parents,
                                        parent_obs, anneal, dag_input
        cfg.ppo          PpoConfig      total_steps, num_envs, num_steps, num_epochs, num_minibatches, lr, lr_anneal,
                                        gamma, gae_lambda, clip_eps, ent_coef, vf_coef, max_grad_norm, grad_clip,
                                        huber_delta, ratio (and batch_size, num_updates, minibatch_size)
        cfg.networks     NetworkConfig  torso, hidden, recurrent, gru_hidden, arch
        cfg.run          RunConfig      num_seeds, seed, sweep, updates_per_chunk, run_dir, checkpoint,
                                        checkpoint_every_s, keep_checkpoints, resume, tensorboard
        cfg.evaluation   EvalConfig     eval_episodes, eval_every, absolute_episodes
        cfg.devices      DeviceConfig   data_parallel, memory_check, deterministic, coordinator, num_processes,
                                        process_id

    A Config is all the sections at once: it inherits their fields (the bases are listed last section first, as a
    dataclass collects its bases' fields from the last base on, so the fields and flags keep the sections' order), and
    every field name is unique across the sections (asserted below). So:
      - names are flat wherever a user sees them: `Config(env="cg_2", dag="full", lr=1e-3)`, the flags of
        `python -m jbn.train`, config.json (`dataclasses.asdict(cfg)`), `cfg.lr`, `dataclasses.replace(cfg, lr=...)`;
      - `cfg.ppo`, `cfg.graph`, ... give one section as its own frozen dataclass, for code that needs that part
        only (`make_optimizer(cfg.ppo, ...)` can read PPO settings and nothing else);
      - `cfg.check()` has every section check itself; `resolve` fills the presets first, then checks the sections
        and what joins them.
    """

    @property
    def environment(self) -> EnvConfig:
        return section_of(self, EnvConfig)

    @property
    def graph(self) -> DagConfig:
        return section_of(self, DagConfig)

    @property
    def ppo(self) -> PpoConfig:
        return section_of(self, PpoConfig)

    @property
    def networks(self) -> NetworkConfig:
        return section_of(self, NetworkConfig)

    @property
    def run(self) -> RunConfig:
        return section_of(self, RunConfig)

    @property
    def evaluation(self) -> EvalConfig:
        return section_of(self, EvalConfig)

    @property
    def devices(self) -> DeviceConfig:
        return section_of(self, DeviceConfig)

    @property
    def num_chunks(self) -> int:
        return -(-self.num_updates // self.updates_per_chunk)

    def check(self) -> None:
        """Every section checks its own fields (of a config whose presets are filled: `resolve`)."""
        for _, section in SECTIONS:
            section_of(self, section).check()


_FIELDS = [f.name for _, section in SECTIONS for f in dataclasses.fields(section)]
assert len(set(_FIELDS)) == len(_FIELDS), "a flat name must name one section's field"
assert [f.name for f in dataclasses.fields(Config)] == _FIELDS, "Config is exactly its sections' fields, in order"
assert not {name for name, _ in SECTIONS} & set(_FIELDS), "a section's name is not a field's"


def default_updates_per_chunk(num_updates: int, batch_size: int, target_steps: int = 50_000) -> int:
    """About 50k env steps (and at most 1/50 of the run) per jitted chunk, dividing the updates evenly."""
    target = max(1, min(num_updates // 50, -(-target_steps // batch_size)))
    return max(k for k in range(1, target + 1) if num_updates % k == 0)


def resolve(cfg: Config) -> Config:
    """Fill preset defaults and validate. Raises UserError naming the bad value and the valid choices.

    The env section first (everything else depends on the env, which is built once here), then the presets, then
    every section checks itself, then the checks that join sections."""
    cfg.environment.check()
    cfg = _resolve_sc2(_resolve_torso(cfg))
    given = cfg  # what the command line (or caller) set; None: left to the preset
    cfg = _fill_presets(cfg)
    cfg.check()
    if cfg.eval_every is None:
        cfg = dataclasses.replace(cfg, eval_every=max(1, round(cfg.num_updates / 20)))
    if cfg.updates_per_chunk is None:
        cfg = dataclasses.replace(cfg, updates_per_chunk=default_updates_per_chunk(cfg.num_updates, cfg.batch_size))
    _check_across_sections(cfg)
    if not cfg.resume and not _resolved(given):  # a saved or resolved config was checked when first resolved
        refuse_idle_flags(given, cfg)
    return dataclasses.replace(cfg, sweep=sweep.check(cfg))


def _resolve_torso(cfg: Config) -> Config:
    """The env built once (a bad factory, kwarg or rule is one error before anything starts) and the torso its
    observations take; the real game takes neither kwargs nor rules and has vector observations."""
    env_kwargs, env_rules = parse_env_kwargs(cfg.env_kwargs), parse_env_rules(cfg.env_rules)
    if not is_sc2(cfg.env):
        array_env = check_env(cfg.env, env_kwargs, env_rules)
        try:
            return dataclasses.replace(cfg, torso=torso_for(cfg.torso, array_env.obs_shape))
        except ValueError as e:
            raise UserError(str(e)) from None
    if env_kwargs or env_rules:
        raise UserError(f"env_kwargs {list(cfg.env_kwargs)} / env_rules {list(cfg.env_rules)}: the real StarCraft II "
                        f"({cfg.env}) takes neither")
    if cfg.torso == "cnn":
        raise UserError(f"torso='cnn': the real StarCraft II ({cfg.env}) has vector observations; use mlp")
    return dataclasses.replace(cfg, torso="mlp")


def _fill_presets(cfg: Config) -> Config:
    """Every field left as None that the preset (or a fixed default: L, the GRU's width) fills."""
    preset = cfg.preset or preset_for_env(cfg.env)
    values = {"preset": preset}
    for k, v in preset_values(cfg.env, preset).items():
        if getattr(cfg, k) is None:
            values[k] = v
    if cfg.reward_shaping_horizon is None:
        values["reward_shaping_horizon"] = _SHAPING.get(preset, 0)
    if cfg.sinkhorn_iters is None:
        values["sinkhorn_iters"] = SINKHORN_ITERS
    if cfg.recurrent == "gru" and cfg.gru_hidden is None:
        values["gru_hidden"] = GRU_HIDDEN
    return dataclasses.replace(cfg, **values)


def _check_across_sections(cfg: Config) -> None:
    """What joins sections: a recurrent policy's minibatches of whole envs (networks × PPO), the chunks (run × PPO),
    the devices' equal shares (devices × PPO × networks)."""
    if cfg.recurrent == "gru" and cfg.num_envs % cfg.num_minibatches:
        raise UserError(
            f"--recurrent gru: the minibatches split the envs (each keeps its whole sequence for the GRU's replay), "
            f"and num_minibatches = {cfg.num_minibatches} does not divide num_envs = {cfg.num_envs}; choose a divisor "
            f"of {cfg.num_envs}"
        )
    if not cfg.resume:  # a resume checks the updates that remain (jbn.train.run)
        check_chunking(cfg.num_updates, cfg.updates_per_chunk)
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
    if given.edge_prior != 0.5 and not context:
        why.append(f"--edge-prior {given.edge_prior}: the edge net exists only with --dag context, and dag is "
                   f"{cfg.dag!r}")
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
    evaluation unless asked for (each costs 4 x eval_episodes games). (EnvConfig.check refuses a layout elsewhere.)"""
    if not is_sc2(cfg.env):
        return cfg
    layout = cfg.sc2_layout or "smax"
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
