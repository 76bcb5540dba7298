"""`check_choice`: the one error message for a name that is not among the valid ones (envs, maps, layouts, flags)."""
from __future__ import annotations

import difflib


def check_choice(name: str, value, choices) -> None:
    """Raise ValueError naming `value`, the closest valid choice and all valid choices, unless value in choices."""
    choices = list(choices)
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{name}={value!r} is not valid.{hint} Valid choices: {', '.join(map(str, choices))}")
