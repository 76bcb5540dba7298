"""Runs one of JaxMARL's baseline scripts unmodified, with `wandb` replaced by a stand-in that records every row.

    JBN_ROWS=rows.jsonl JBN_BASELINE=<checkout>/baselines/MAPPO/mappo_rnn_mpe.py \
        python bench/peers/jaxmarl_shim.py --config-path=<checkout>/baselines/MAPPO/config KEY=VALUE ...

Run in JaxMARL's own interpreter. Each `wandb.log(row)` becomes one JSON line in $JBN_ROWS: the row's scalar fields
(floats; arrays and plot objects left out) plus `wall_s`, seconds since this process started, and `row`, the row's
index. The script's Hydra `main()` is called as its `__main__` would, with this process's command-line overrides.
"""
import importlib
import json
import os
import sys
import time
import types

T0 = time.perf_counter()
OUT = open(os.environ["JBN_ROWS"], "w")
N_ROWS = 0


def _scalar(v):
    try:
        return float(v)  # python numbers, 0-d and size-1 numpy arrays
    except (TypeError, ValueError):
        return None


def log(row, *args, **kwargs):
    global N_ROWS
    out = {k: s for k, s in ((k, _scalar(v)) for k, v in row.items()) if s is not None}
    out.update(wall_s=time.perf_counter() - T0, row=N_ROWS)
    N_ROWS += 1
    OUT.write(json.dumps(out) + "\n")
    OUT.flush()


class _Anything:
    """wandb.Table, wandb.plot.line(...), wandb.run: accepted and ignored."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Anything()

    def __getattr__(self, name):
        return _Anything()


sys.modules["wandb"] = types.SimpleNamespace(init=lambda *a, **k: _Anything(), log=log, finish=lambda *a, **k: None,
                                             Table=_Anything, plot=_Anything(), run=_Anything(),
                                             config=_Anything(), Image=_Anything, Video=_Anything)
script = os.path.abspath(os.environ["JBN_BASELINE"])
sys.path.insert(0, os.path.dirname(script))
sys.path.insert(0, os.path.dirname(os.path.dirname(script)))  # baselines/ (some scripts import siblings)
os.chdir(os.path.dirname(script))
module = importlib.import_module(os.path.splitext(os.path.basename(script))[0])
module.main()
