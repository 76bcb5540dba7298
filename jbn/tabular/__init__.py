"""Tabular exact softmax BN policy gradient on the Coordination Game (paper §5, §7.3, Fig. 3;
docs/architecture.md, "Tabular experiments"), and on one-shot cooperative matrix games (Climbing, Penalty-k,
any joint payoff table [A_1, ..., A_N]).

Agent i's local policy is a table θ_i[s, c, a_i] (Eq. 1), where c = a^{P_i} is its parents' joint action.
Everything is exact:

* π(a|s) = Π_i π_i(a_i | s, c_i(a)) by enumerating all 2^N joint actions (`policy.py`);
* V_π = (I − γ P_π)⁻¹ R by an exact linear solve (`solve.py`, LAPACK-free: see `discounted_solve` why),
  V_π(μ) = mean_s V_π(s) (μ uniform, γ = 0.95, App. B.1), or Σ_s V_π(s) for the ascent with `mu="sum"`
  as in the authors' code (`exact.py`);
* ∇_θ V_π(μ) by autodiff through the solve (and Lemma 5.1 in closed form, `lemma51_gradient`, as a check);
* max_π V_π(μ) by value iteration over joint actions (`game_tables.py`), POA = V_π(μ) / max_π V_π(μ);
* Nash-gap = max_i (V_{BR_i, π_-i}(μ) − V_π(μ)), BR_i the exact best local policy (s, c) -> a_i of agent i
  with the other conditionals fixed (`nash.py`).

A matrix game has one state and one step: V_θ = Σ_a π_θ(a) r(a), max_π V = max_a r(a), and the best response
is one backup, Σ_c max_{a_i} G(c, a_i) (`matrix_exact.py`); the runner, the seeds' vmap and the CLI are shared.

Files, one concern each:
    game_tables.py  the game's exact tables (Coordination Game, App. B.1) and max_π V_π(μ)
    policy.py       the BN layout of a DAG, the logits θ, the softmax local and joint policies
    solve.py        (I − γ P_π)⁻¹ b by repeated squaring, with its VJP
    exact.py        V_π, the objective V_θ(μ) (μ uniform or summed), Lemma 5.1's gradient
    nash.py         best responses, POA, Nash-gap
    matrix_tables.py  matrix games: Climbing and Penalty-k (from matrax), payoff tables from JSON, pure NE
    matrix_exact.py   their exact value, best responses, POA, Nash-gap, and where each seed ends
    runner.py       gradient ascent, vmapped over seeds, chunked host loop
    plot.py         Figure 3, and its matrix-game version
    cli.py          config, the (N, DAG) or (game, DAG) loop, results.json (`python -m jbn.tabular`, via __main__.py)

CLI (Figure 3; matrix games):
    python -m jbn.tabular --n-agents 2 3 5 --dags none line full --seeds 50 --iters 2000 --lr 0.01 \\
        --out results.json --plot fig3.png
    python -m jbn.tabular --game climbing penalty --penalty-k -100 --seeds 50 --iters 1000000 --log-records 120 \\
        --out docs/tabular_matrix.json --plot docs/tabular_matrix.png

It imports only jbn.policy (the DAGs) and jbn.cmdline (its flags) below it; nothing else in jbn imports it.
"""

from jbn.tabular.cli import TabularConfig, main, run, run_matrix, summarise, summarise_matrix
from jbn.tabular.exact import MU_CHOICES, Mu, lemma51_gradient, policy_value, value_mu
from jbn.tabular.game_tables import GAMMA, TabularGame, coordination_game, make_game, optimal_values
from jbn.tabular.matrix_exact import (
    evaluate_matrix,
    evaluate_matrix_local,
    final_outcomes,
    joint_probabilities,
    matrix_best_response_values,
    matrix_value,
)
from jbn.tabular.matrix_tables import (
    MATRIX_GAMES,
    MatrixGame,
    climbing_game,
    load_game,
    matrix_game,
    penalty_game,
    pure_nash_equilibria,
)
from jbn.tabular.nash import Metrics, best_response_values, evaluate, evaluate_local
from jbn.tabular.plot import DAG_LABELS, plot_fig3, plot_matrix
from jbn.tabular.policy import (
    DAG_CHOICES,
    BNLayout,
    Local,
    Theta,
    bn_layout,
    init_theta,
    joint_actions,
    joint_policy,
    local_policies,
    named_layout,
)
from jbn.tabular.runner import RunResult, make_run_chunk, record_schedule, run_seeds
from jbn.tabular.solve import discounted_solve

__all__ = [
    "BNLayout",
    "DAG_CHOICES",
    "DAG_LABELS",
    "GAMMA",
    "Local",
    "MATRIX_GAMES",
    "MU_CHOICES",
    "MatrixGame",
    "Metrics",
    "Mu",
    "RunResult",
    "TabularConfig",
    "TabularGame",
    "Theta",
    "best_response_values",
    "bn_layout",
    "climbing_game",
    "coordination_game",
    "discounted_solve",
    "evaluate",
    "evaluate_local",
    "evaluate_matrix",
    "evaluate_matrix_local",
    "final_outcomes",
    "init_theta",
    "joint_actions",
    "joint_policy",
    "joint_probabilities",
    "lemma51_gradient",
    "load_game",
    "local_policies",
    "main",
    "make_game",
    "make_run_chunk",
    "matrix_best_response_values",
    "matrix_game",
    "matrix_value",
    "optimal_values",
    "penalty_game",
    "plot_fig3",
    "plot_matrix",
    "policy_value",
    "pure_nash_equilibria",
    "record_schedule",
    "run",
    "run_matrix",
    "run_seeds",
    "summarise",
    "summarise_matrix",
    "value_mu",
]
