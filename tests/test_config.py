"""Config names and presets of the real StarCraft II (`--env sc2_<map>`), checked before anything compiles or a
game starts; the registry keeps the JAX envs' list apart from the game's maps."""
import dataclasses
import importlib.util
import json

import pytest

import envs_jax
from envs_jax import sc2
from envs_jax.registry import sc2_names, train_names
from jbn.host import checkpoint as ckpt
from jbn import train
from jbn.training import trainer as tr
from jbn.training.config import Config, UserError, preset_values, resolve


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
