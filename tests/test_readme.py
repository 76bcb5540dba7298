"""README "From Python": its code block runs as written (the public API `jbn.Config`, `jbn.make_train`, seeds
under `jax.vmap`) and trains what it says."""
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def from_python_block() -> str:
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section has one Python block"
    return blocks[0]


def test_the_readme_snippet_runs():
    scope = {}
    exec(compile(from_python_block(), "README.md (From Python)", "exec"), scope)
    metrics, cfg = scope["metrics"], scope["cfg"]
    assert cfg.env == "cg_2" and cfg.num_updates == 20
    assert metrics.episode_return.shape == (4, cfg.updates_per_chunk)
    assert np.all(np.asarray(scope["state"].update) == cfg.num_updates)
    assert np.all(np.isfinite(np.asarray(metrics.loss.total)))


def test_the_public_api_is_lazy():
    """`jbn.Config` and friends load on first use; `import jbn` alone still imports nothing (tests/test_layout.py)."""
    import jbn
    from jbn.training.config import Config
    from jbn.training.trainer import make_train

    assert jbn.Config is Config and jbn.make_train is make_train
    assert set(jbn.__all__) <= set(dir(jbn))
