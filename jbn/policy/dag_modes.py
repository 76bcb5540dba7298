"""What each DAG mode is, said once (docs/architecture.md §3.3): whether its DAG is learned, whether it can learn
its topological order, whether it is one fixed graph, and whether any agent has parents in it. Everything else
asks these questions (`is_learned`, `has_parents`, `traits`) instead of comparing the mode's name. Plain Python
(no JAX), so the host-side tools that read a run's config (plot, checkpoint rules) can ask too."""
from __future__ import annotations

from typing import Literal, NamedTuple, Optional, get_args

DagMode = Literal["none", "line", "full", "context"]
DAG_MODES: tuple[str, ...] = get_args(DagMode)


class ModeTraits(NamedTuple):
    learned: bool  # G is sampled at every step from the edge (and permutation) nets' logits, trained by the loss
    learns_order: bool  # the topological order can be learned (Gumbel-Sinkhorn; the config's learn_order decides)
    fixed_graph: bool  # one G for every step and state (`dag.fixed_dag`, Π = I)
    has_parents: bool  # some agent conditions on another's action (False: every agent acts on its own)


TRAITS: dict[str, ModeTraits] = {
    "none": ModeTraits(learned=False, learns_order=False, fixed_graph=True, has_parents=False),  # independent MAPPO
    "line": ModeTraits(learned=False, learns_order=False, fixed_graph=True, has_parents=True),  # i-1 -> i
    "full": ModeTraits(learned=False, learns_order=False, fixed_graph=True, has_parents=True),  # j -> i, all j < i
    "context": ModeTraits(learned=True, learns_order=True, fixed_graph=False, has_parents=True),  # the paper's
}
assert tuple(TRAITS) == DAG_MODES

# The mode of decentralised execution: the same parameters with every agent acting on its own observation.
DECENTRALIZED: DagMode = "none"
FIXED_MODES: tuple[str, ...] = tuple(m for m, t in TRAITS.items() if t.fixed_graph)


def check_mode(mode: str) -> None:
    if mode not in TRAITS:
        raise ValueError(f"unknown DAG mode {mode!r}; valid modes: {', '.join(DAG_MODES)}")


def traits(mode: str) -> ModeTraits:
    check_mode(mode)
    return TRAITS[mode]


def is_learned(mode: Optional[str]) -> bool:
    """The mode's DAG is learned (False for a fixed mode, and for None or a name this version does not know, as a
    saved config read back may hold)."""
    return mode in TRAITS and TRAITS[mode].learned


def has_parents(mode: Optional[str]) -> bool:
    """Some agent has parents in the mode's DAGs (False for none, None and unknown names)."""
    return mode in TRAITS and TRAITS[mode].has_parents
