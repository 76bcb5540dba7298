"""Config names and presets of the real StarCraft II (`--env sc2_<map>`), checked before anything compiles or a
game starts; the registry keeps the JAX envs' list apart from the game's maps."""
import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import pytest

import envs_jax
from envs_jax import sc2
from envs_jax.registry import sc2_names, train_names
from jbn.host import checkpoint as ckpt
from jbn import train
from jbn.cmdline import flags
from jbn.training import ppo, sweep, types
from jbn.training import trainer as tr
from jbn.training.config import SECTIONS, Config, PpoConfig, UserError, preset_values, resolve
from jbn.training.types import Hyper


def test_registry_lists_the_game_apart_from_the_jax_envs():
    assert not [n for n in envs_jax.names() if n.startswith("sc2_")]  # the JAX contract tests iterate names()
    assert sc2_names() == sc2.sc2_names() and {"sc2_6h_vs_8z", "sc2_MMM2", "sc2_3m"} <= set(sc2_names())
    assert train_names() == envs_jax.names() + sc2_names()
    with pytest.raises(ValueError, match=r"real StarCraft II.*envs_jax.sc2.make\('sc2_3m'\)"):
        envs_jax.make("sc2_3m")


@pytest.mark.parametrize("name", sc2_names())
def test_every_map_resolves_to_the_smax_preset_of_its_map(name):
    twin = "smax_" + name[len("sc2_"):]
    has_smax = twin in envs_jax.names()
    if has_smax:
        cfg = resolve(Config(env=name))
        ref = resolve(Config(env=twin))
        assert cfg.sc2_layout == "smax" and ref.sc2_layout is None
        same = [f for f in preset_values(twin, "smax") if f not in ("num_envs", "eval_episodes")]
        assert {f: getattr(cfg, f) for f in same} == {f: getattr(ref, f) for f in same}
    else:
        with pytest.raises(UserError, match=f"needs the SMAX scenario '{twin}'.*--sc2-layout smac"):
            resolve(Config(env=name))
    cfg = resolve(Config(env=name, sc2_layout="smac"))
    assert cfg.preset == "smax" and cfg.sc2_layout == "smac"
    assert (cfg.num_envs, cfg.num_seeds, cfg.updates_per_chunk, cfg.eval_episodes) == (8, 1, 1, 0)


def test_annealing_follows_the_map():
    assert resolve(Config(env="sc2_MMM2")).anneal == "MMM2" == resolve(Config(env="smax_MMM2")).anneal
    assert resolve(Config(env="sc2_6h_vs_8z")).anneal == "6h_vs_8z"
    assert resolve(Config(env="sc2_6h_vs_8z", num_envs=2, eval_episodes=4)).eval_episodes == 4


def test_bad_sc2_input_names_the_value_and_the_choices():
    with pytest.raises(UserError, match="env='sc2_6h_vs_8' is not valid. Did you mean 'sc2_6h_vs_8z'?.* sc2_MMM2"):
        resolve(Config(env="sc2_6h_vs_8"))
    with pytest.raises(UserError, match="sc2_layout='smax' applies to the real StarCraft II only .*'cg_2'"):
        resolve(Config(env="cg_2", sc2_layout="smax"))
    with pytest.raises(UserError, match="sc2_layout='smaxx' is not valid. Did you mean 'smax'"):
        resolve(Config(env="sc2_3m", sc2_layout="smaxx"))
    with pytest.raises(UserError, match="num_seeds=4: training on the real StarCraft II \\(sc2_3m\\) runs one seed"):
        resolve(Config(env="sc2_3m", num_seeds=4))
    with pytest.raises(UserError, match="updates_per_chunk=5: .* leave it unset"):
        resolve(Config(env="sc2_3m", updates_per_chunk=5))
    with pytest.raises(UserError, match="sweep=\\['lr=1e-3,3e-4'\\]: training on the real StarCraft II"):
        resolve(Config(env="sc2_3m", sweep=("lr=1e-3,3e-4",)))


def test_an_unknown_env_name_points_to_the_factory_form():
    """A newcomer whose env is not registered learns that any env can be trained as 'package.module:factory'."""
    with pytest.raises(UserError, match=r"env='my_env' is not valid\..*sc2_MMM2.* or any env of your own as "
                                        r"--env 'package\.module:factory'"):
        resolve(Config(env="my_env"))


def test_cli_accepts_sc2_and_rejects_bad_names_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    # The missing piece named first: pysc2 where the `sc2` extra is not installed, else the game itself.
    missing = "StarCraft II not found" if importlib.util.find_spec("pysc2") else "the StarCraft II bridge needs pysc2"
    for argv, message in (
        (["--env", "sc2_6h_vs_8"], "Did you mean 'sc2_6h_vs_8z'?"),
        (["--env", "sc2_6h_vs_8z", "--num-seeds", "2"], "runs one seed"),
        (["--env", "sc2_6h_vs_8z", "--sc2-layout", "smac", "--run-dir", "r"], missing),
    ):
        with pytest.raises(SystemExit) as e:
            train.main(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "r" / "config.json").exists()  # the install is checked before anything is written


def test_resume_of_a_run_from_before_sc2_layout(tmp_path):
    """A config.json written before the field existed resumes: a missing field had its default."""
    cfg = resolve(Config(env="cg_2", run_dir=str(tmp_path)))
    saved = dataclasses.asdict(cfg)
    del saved["sc2_layout"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    ckpt.check_resume_config(str(tmp_path), dataclasses.asdict(dataclasses.replace(cfg, resume=True)))
    saved["sc2_layout"] = "smac"
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with pytest.raises(UserError, match="sc2_layout: run has 'smac', now None"):
        ckpt.check_resume_config(str(tmp_path), dataclasses.asdict(cfg))


def test_sinkhorn_iterations_reach_the_policy_and_bad_values_are_refused():
    cfg = resolve(Config(env="cg_2", dag="context", sinkhorn_iters=5))
    assert tr.make_policy(cfg, tr.make_env(cfg)).sinkhorn_iters == 5
    assert resolve(Config(env="cg_2")).sinkhorn_iters == 20  # the paper's L
    for bad in (0, -3, 2.5):
        with pytest.raises(UserError, match=f"sinkhorn_iters must be a positive integer, got {bad!r}"):
            resolve(Config(env="cg_2", sinkhorn_iters=bad))


# ------------------------------------------------------------------------------------------- the config's sections
FLAGS = json.loads((Path(__file__).parent / "data" / "config_flags.json").read_text())  # written by the flat Config


def test_config_is_its_sections_and_every_flag_default_and_help_is_unchanged():
    """The sections partition the fields of the flat Config of before, each field with the default and the help text
    (its docstring: `--help`'s words) it had; the sections read back as their own dataclasses."""
    sections = [f.name for _, section in SECTIONS for f in dataclasses.fields(section)]
    assert sections == [f.name for f in dataclasses.fields(Config)]
    assert sorted(sections) == sorted(FLAGS)
    docs = flags.field_docs(Config)
    now = {f.name: {"default": json.loads(json.dumps(f.default)), **({"help": docs[f.name]} if f.name in docs else {})}
           for f in dataclasses.fields(Config)}
    assert now == FLAGS
    cfg = resolve(Config(env="cg_2", lr=1e-3, num_envs=8))
    assert isinstance(cfg.ppo, PpoConfig) and (cfg.ppo.lr, cfg.ppo.num_envs, cfg.ppo.batch_size) == (1e-3, 8, 200)
    assert cfg.graph.dag == "context" and cfg.networks.arch == "cg" and cfg.run.num_runs == 1
    assert cfg.environment.env == "cg_2" and cfg.evaluation.eval_episodes == 100 and cfg.devices.data_parallel == 1


# (section, bad values, the message resolve gives for them)
_BAD = [
    ("environment", {"reward_shaping_horizon": -1}, r"reward_shaping_horizon must be an integer >= 0 \(env steps\), got -1"),
    ("environment", {"env_kwargs": ("grid",)}, "env_kwargs item 'grid' is not KEY=VALUE"),
    ("graph", {"sinkhorn_iters": 0}, "sinkhorn_iters must be a positive integer, got 0"),
    ("graph", {"dag_input": "state"}, "dag_input='state' is not valid"),
    ("graph", {"edge_prior": 1.0}, r"edge_prior must lie in \(0, 1\) \(a probability; 0 and 1 are infinite logits\), got 1.0"),
    ("ppo", {"gamma": 1.5}, r"gamma must lie in \(0, 1\], got 1.5"),
    ("ppo", {"num_envs": 4, "num_steps": 5, "num_minibatches": 3}, "= 20 is not divisible by num_minibatches = 3"),
    ("networks", {"hidden": 0}, "hidden must be a positive integer, got 0"),
    ("run", {"resume": True}, r"--resume needs --run-dir"),
    ("run", {"checkpoint_every_s": -1.0}, "checkpoint_every_s must be >= 0, got -1.0"),
    ("evaluation", {"eval_episodes": 0, "absolute_episodes": 5}, "--absolute-episodes 5: evaluation is off"),
    ("devices", {"data_parallel": 0}, "data_parallel must be a positive integer, got 0"),
]


@pytest.mark.parametrize("section,bad,message", _BAD, ids=[f"{s}-{'-'.join(b)}" for s, b, _ in _BAD])
def test_each_section_checks_its_own_fields_with_resolves_message(section, bad, message):
    good = getattr(resolve(Config(env="cg_2")), section)
    good.check()
    with pytest.raises(UserError, match=message):
        dataclasses.replace(good, **bad).check()
    with pytest.raises(UserError, match=message):
        resolve(Config(env="cg_2", **bad))


def test_hyper_and_the_ppo_ranges_come_from_one_declaration_of_the_sweepable_names():
    assert Hyper._fields == tuple(types.SWEEPABLE) and sweep.SWEEPABLE is types.SWEEPABLE
    assert not hasattr(ppo, "LossCoefs")  # the loss reads the run's Hyper
    good = resolve(Config(env="cg_2")).ppo
    in_ppo = [name for name in types.SWEEPABLE if name in {f.name for f in dataclasses.fields(PpoConfig)}]
    assert in_ppo == ["lr", "max_grad_norm", "clip_eps", "vf_coef", "ent_coef", "huber_delta", "gamma", "gae_lambda"]
    for name in in_ppo:
        valid = types.SWEEPABLE[name].valid
        with pytest.raises(UserError, match=f"{name} must (be|lie) {re.escape(valid)}, got -1.0"):
            dataclasses.replace(good, **{name: -1.0}).check()


GOLDEN_RUNS = sorted(str(p.parent.relative_to(Path(__file__).parent))  # every machine's (golden/ref/<machine>/<run>)
                     for p in Path(__file__).parent.glob("golden/ref/*/*/config.json"))


@pytest.mark.parametrize("run_dir", [*GOLDEN_RUNS, "data/tiny_runs/climbing_context"])
def test_config_json_of_older_runs_reads_back_flat_and_unchanged(run_dir):
    """A config.json written by older code builds a Config whose flat dict (what config.json holds) keeps every
    saved value, with the fields it lacks at their defaults."""
    saved = ckpt.saved_config(str(Path(__file__).parent / run_dir))
    cfg = Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    flat = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert sorted(flat) == sorted(FLAGS)
    assert {k: flat[k] for k in saved} == saved
    assert all(flat[k] == FLAGS[k]["default"] for k in set(flat) - set(saved))
