"""One-shot cooperative matrix games as exact float64 tables: Climbing, Penalty-k, or any joint payoff table.

A game is a common payoff r(a_0, ..., a_{N-1}) = payoff[a_0, ..., a_{N-1}], an array of shape [A_1, ..., A_N]
(agent i has A_i actions), played once: one state, an episode of one step, so γ and μ play no part.

Climbing and Penalty-k come from the installed `matrax` package (0.0.5), in its orientation: row = agent 0's
action. matrax's Climbing table is Claus & Boutilier's (1998) published one transposed (their row player is
agent 1 here), and its Penalty-k has the two optima on the anti-diagonal where the published table has them on
the diagonal (agent 1's actions 0 and 2 swapped); tests/test_tabular_matrix.py pins both against the published
tables. k follows Claus & Boutilier's sign (k <= 0 is the payoff of a miscoordination; matrax's "Penalty-100"
is k = -100). Host-side numpy; the exact policy value and best responses are in `matrix_exact.py`.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import NamedTuple

import numpy as np

MATRIX_GAMES = ("climbing", "penalty")
MAX_JOINT_ACTIONS = 4096  # exact enumeration of π(a) over all joint actions; beyond this it is not small


class MatrixGame(NamedTuple):
    """A one-shot common-payoff game.

    name: a label for results and figures.
    payoff: float64 [A_1, ..., A_N], payoff[a_0, ..., a_{N-1}].
    v_opt: max_a payoff[a] = max_π E_π[r] (the optimum is a deterministic joint action).
    opt_actions: the joint actions that reach v_opt.
    """

    name: str
    payoff: np.ndarray
    v_opt: float
    opt_actions: tuple[tuple[int, ...], ...]

    @property
    def num_agents(self) -> int:
        return self.payoff.ndim

    @property
    def num_states(self) -> int:
        return 1

    @property
    def reward(self) -> np.ndarray:
        """float64 [A]: r(a) for joint actions indexed a = Σ_i a_i Π_{j<i} A_j (agent 0 fastest, `policy.py`),
        i.e. the payoff table flattened in Fortran order."""
        return self.payoff.reshape(-1, order="F")


def check_payoff(payoff, source: str) -> np.ndarray:
    """The payoff table as float64 [A_1, ..., A_N], or a ValueError that names `source` and what is wrong."""
    try:
        table = np.asarray(payoff, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"payoff {source}: not a rectangular table of numbers ({e}); give a nested list of "
                         "shape [A_1, ..., A_N], e.g. [[1, 0], [0, 2]]") from None
    if table.ndim < 2:
        raise ValueError(f"payoff {source} has shape {table.shape}: a joint table [A_1, ..., A_N] needs N >= 2 "
                         "agents, e.g. [[1, 0], [0, 2]]")
    for i, k in enumerate(table.shape):
        if k < 2:
            raise ValueError(f"payoff {source} has shape {table.shape}: agent {i} has {k} action(s); each agent "
                             "needs >= 2")
    if table.size > MAX_JOINT_ACTIONS:
        raise ValueError(f"payoff {source} has shape {table.shape}: {table.size} joint actions; the exact "
                         f"computation enumerates them, valid: <= {MAX_JOINT_ACTIONS}")
    if not np.all(np.isfinite(table)):
        bad = tuple(int(x) for x in np.argwhere(~np.isfinite(table))[0])
        raise ValueError(f"payoff {source}: entry {bad} is {table[bad]}; every payoff must be finite")
    if table.max() <= 0:
        raise ValueError(f"payoff {source}: max payoff {table.max():g} <= 0, so POA = E[r] / max r means "
                         "nothing; add a constant to every entry (it leaves the policy gradient unchanged)")
    return table


def matrix_game(payoff, name: str) -> MatrixGame:
    """A `MatrixGame` from a payoff table (checked by `check_payoff`)."""
    table = check_payoff(payoff, repr(name))
    v_opt = float(table.max())
    return MatrixGame(name=name, payoff=table, v_opt=v_opt,
                      opt_actions=tuple(tuple(int(x) for x in a) for a in np.argwhere(table == v_opt)))


def climbing_game() -> MatrixGame:
    """Claus & Boutilier's (1998) Climbing game as matrax stores it (agent 0 = row; the published table transposed)."""
    import matrax  # imported on use: it brings jumanji, which the Coordination-Game run does not need

    return matrix_game(np.asarray(matrax.climbing_game[0], np.float64), "climbing")


def check_penalty_k(k: float) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k > 0:
        raise ValueError(f"penalty_k={k!r} must be a finite number <= 0 (the payoff of a miscoordination, "
                         "Claus & Boutilier's k)")


def penalty_game(k: float = -100.0) -> MatrixGame:
    """The Penalty game with miscoordination payoff k <= 0: matrax's table for k in {0, -25, -50, -75, -100},
    the same layout [[k, 0, 10], [0, 2, 0], [10, 0, k]] for any other k."""
    import matrax

    check_penalty_k(k)
    k = float(k) + 0.0  # -0.0 -> 0.0, for the key and the name
    stored = matrax.penalty_games.get(f"{abs(k):g}")  # matrax keys its games by -k: "0", "25", ..., "100"
    table = [[k, 0.0, 10.0], [0.0, 2.0, 0.0], [10.0, 0.0, k]] if stored is None else np.asarray(stored[0])
    return matrix_game(np.asarray(table, np.float64), f"penalty_k{k:g}")


def is_game_file(spec: str) -> bool:
    return spec.endswith(".json")


def check_game_spec(spec: str, choices: tuple[str, ...]) -> None:
    """A name in `choices` or an existing PATH.json; else a ValueError naming `spec` and the valid choices."""
    if spec in choices:
        return
    if is_game_file(spec):
        if not os.path.isfile(spec):
            raise ValueError(f"game {spec!r}: no such file (a PATH.json game is a payoff table)")
        return
    raise ValueError(f"unknown game {spec!r}; valid choices: {', '.join(choices)}, or a PATH.json payoff table")


def load_payoff_json(text: str, source: str) -> MatrixGame:
    """A game from JSON: a nested list [A_1, ..., A_N], or {"payoff": nested list, "name": optional label}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"payoff {source}: not JSON ({e})") from None
    name = source
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"payoff", "name"})
        if "payoff" not in data or unknown:
            raise ValueError(f"payoff {source}: an object needs the key 'payoff' and may have 'name'; got keys "
                             f"{sorted(data)}")
        name, data = str(data.get("name", source)), data["payoff"]
    if not isinstance(data, list):
        raise ValueError(f"payoff {source}: {data!r} is not a nested list [A_1, ..., A_N]")
    return matrix_game(check_payoff(data, source), name)


def load_game(spec: str, penalty_k: float = -100.0) -> MatrixGame:
    """climbing, penalty (with `penalty_k`) or a PATH.json file (see `load_payoff_json`)."""
    if spec == "climbing":
        return climbing_game()
    if spec == "penalty":
        return penalty_game(penalty_k)
    check_game_spec(spec, MATRIX_GAMES)
    with open(spec) as f:
        return load_payoff_json(f.read(), os.path.splitext(os.path.basename(spec))[0])


def pure_nash_equilibria(payoff: np.ndarray) -> list[tuple[int, ...]]:
    """The joint actions from which no agent gains by deviating alone (of a product policy; brute force)."""
    out = []
    for a in itertools.product(*(range(k) for k in payoff.shape)):
        if all(payoff[a] >= payoff[a[:i] + (slice(None),) + a[i + 1:]].max() for i in range(payoff.ndim)):
            out.append(tuple(int(x) for x in a))
    return out
