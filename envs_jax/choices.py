"""`check_choice`: the one error message for a name that is not among the valid ones (envs, maps, layouts, flags)."""
from __future__ import annotations

import difflib
import re

LONG = 40  # a longer list of choices is shown with its numbered series collapsed: matrax_Conflict-{0..56}-stateless
SERIES = 5  # ... those of at least this many names (cg_2, cg_3, cg_5, cg_10 stay as they are)


def check_choice(name: str, value, choices) -> None:
    """Raise ValueError naming `value`, the closest valid choice and all valid choices, unless value in choices."""
    choices = list(choices)
    if value in choices:
        return
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(value), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if len(names) > LONG:
        listed = f"Valid choices ({len(names)}; {{a..b}} is every integer from a to b): {', '.join(collapse(names))}"
    else:
        listed = f"Valid choices: {', '.join(names)}"
    raise ValueError(f"{name}={value!r} is not valid.{hint} {listed}")


def collapse(names: list[str]) -> list[str]:
    """Names that differ only in one integer, SERIES or more of them, shown once: a-0-x, a-1-x, a-2-x, a-5-x, a-9-x ->
    a-{0..2,5,9}-x. Shorter series stay as they are.

    A name with several integers joins a series only with names equal to it in every other integer (smax_10m_vs_11m
    and smax_5m_vs_6m stay apart); order is that of each series' first member."""
    series: dict[tuple, list[int]] = {}
    order: list[tuple | str] = []
    for n in names:
        parts = re.split(r"(\d+)", n)  # text, int, text, int, ..., text
        nums = parts[1::2]
        if len(nums) != 1:
            order.append(n)
            continue
        key = (parts[0], parts[2])
        if key not in series:
            series[key] = []
            order.append(key)
        series[key].append(int(nums[0]))
    out = []
    for k in order:
        if isinstance(k, str):
            out.append(k)
        elif len(series[k]) < SERIES:
            out.extend(f"{k[0]}{v}{k[1]}" for v in series[k])
        else:
            out.append(f"{k[0]}{{{_ranges(series[k])}}}{k[1]}")
    return out


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 5, 25, 50] -> "0..2,5,25,50": runs of three or more consecutive integers as a..b."""
    values = sorted(set(values))
    out, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        out.append(f"{values[i]}..{values[j]}" if j - i >= 2 else ",".join(map(str, values[i:j + 1])))
        i = j + 1
    return ",".join(out)
