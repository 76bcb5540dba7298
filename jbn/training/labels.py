"""How a sweep point is written in legends, tables and TensorBoard names; no jax, so `jbn.plot` stays light."""
from __future__ import annotations


def format_value(v: float) -> str:
    """Short and exact enough for a legend: 0.0005 -> 5e-4, 0.05 -> 0.05, 1.0 -> 1."""
    if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4):
        mantissa, exponent = f"{v:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{v:.6g}"


def point_label(point: dict, sep: str = " ") -> str:
    """A sweep point as 'lr=5e-4 alpha0=0.1' ('' for the point of a run without a sweep)."""
    return sep.join(f"{name}={format_value(v)}" for name, v in point.items())
