"""`build(ctor, kwargs)`: an env's constructor called with user kwargs (`--env-kwargs`), each checked first.

A kwarg is refused with one ValueError naming it when it is not an argument of the constructor (the named arguments
of the class and of its bases' `__init__` along `**kwargs`, plus `extra_keys` a family knows the env reads from
`**kwargs`), when it is an argument the registered name fixes (`fixed_keys`), or when its type differs from the
type of the argument's default (an int where a float is expected is accepted). A constructor that still fails
(an assertion in the env, say) is reported as a ValueError naming the kwargs.
"""
from __future__ import annotations

import inspect
import re
from typing import Callable, Iterable

_SCALARS = (bool, int, float, str)


def signature_params(ctor) -> tuple[dict[str, inspect.Parameter], bool]:
    """The named parameters of `ctor` ({name: Parameter}), following a class's `**kwargs` into its bases'
    `__init__`, and whether any unnamed keyword is still accepted (a `**kwargs` that no base names)."""
    params: dict[str, inspect.Parameter] = {}
    chain = [c.__init__ for c in inspect.getmro(ctor) if "__init__" in vars(c)] if inspect.isclass(ctor) else [ctor]
    open_kwargs = False
    for fn in chain:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # a builtin without a signature: accept anything
            return params, True
        open_kwargs = False
        for p in sig.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                open_kwargs = True
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                params.setdefault(p.name, p)
        if not open_kwargs:
            break
    if open_kwargs and inspect.isclass(ctor) and chain and chain[-1] is object.__init__:
        open_kwargs = False
    return params, open_kwargs


def _type_ok(value, default) -> bool:
    expected = type(default)
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, expected)


# counts and episode limits: an int below 1 builds an env with nothing in it, or one whose episodes never run
_COUNT = re.compile(r"^(num_\w+|max_steps|time_limit|episode_limit|episode_length|horizon)$")


def check_kwargs(ctor, kwargs: dict, *, what: str, extra_keys: Iterable[str] = (), fixed_keys: Iterable[str] = ()):
    """Raise ValueError naming the first bad kwarg of `what` (unknown key, a key the name fixes, wrong type, a count
    or an episode limit below 1)."""
    params, open_kwargs = signature_params(ctor)
    fixed = set(fixed_keys)
    valid = sorted((set(params) | set(extra_keys)) - fixed)
    for key, value in kwargs.items():
        if key in fixed:
            raise ValueError(f"{what}: env kwarg {key!r} is fixed by the env's name and cannot be set. "
                             f"Valid keys: {', '.join(valid) or '(none)'}")
        if key not in params and key not in extra_keys and not open_kwargs:
            raise ValueError(f"{what}: unknown env kwarg {key!r}. Valid keys: {', '.join(valid) or '(none)'}")
        p = params.get(key)
        if p is not None and p.default is not p.empty and isinstance(p.default, _SCALARS) \
                and not _type_ok(value, p.default):
            raise ValueError(f"{what}: env kwarg {key}={value!r} has type {type(value).__name__}; expected "
                             f"{type(p.default).__name__} (default {p.default!r})")
        check_count(what, key, value)


def check_count(what: str, key: str, value) -> None:
    """ValueError when `key` is a count (num_*) or an episode limit and `value` an int below 1."""
    if _COUNT.match(key) and isinstance(value, int) and not isinstance(value, bool) and value < 1:
        raise ValueError(f"{what}: env kwarg {key}={value} must be >= 1 (a count or an episode limit)")


def build(ctor: Callable, kwargs: dict, *, what: str, signature_of=None, extra_keys: Iterable[str] = (),
          fixed_keys: Iterable[str] = ()):
    """`ctor(**kwargs)` after `check_kwargs` (against `signature_of`'s signature, default ctor's)."""
    check_kwargs(ctor if signature_of is None else signature_of, kwargs, what=what, extra_keys=extra_keys,
                 fixed_keys=fixed_keys)
    try:
        return ctor(**kwargs)
    except (TypeError, ValueError, AssertionError, KeyError, IndexError) as e:
        raise ValueError(f"{what}: building the env with kwargs {kwargs} failed: {type(e).__name__}: {e}") from e
