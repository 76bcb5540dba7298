"""Command lines as frozen dataclasses (tyro), every mistake one `error:` line and exit code 2.

    args = parse(EvalArgs, argv, prog="python -m jbn.evaluate", description=...)

What this adds to `tyro.cli`, for every command line of jbn (train, evaluate, plot, compare, archive, export,
aggregate):
  - an unknown flag is one line naming the closest known flag ("did you mean --lr?"), before tyro parses anything;
  - a word after an on/off flag (`--resume runs/x`) is one line saying the flag takes no value;
  - an integer may be written as people write it: 1e7, 1.6e1, 2e1 (a whole number in float notation); 2.5 or 1.5e0
    is refused ("is not a whole number");
  - `--help` shows readable types (INT, FLOAT, {a,b}: never {None}|INT) and one default per flag: a field whose
    docstring names its default ("(default: ...)") gets no second one from tyro;
  - tyro's error boxes (a bad choice, a missing value, a required flag left out) become one line.
Nothing here touches jax: the host-side command lines import it.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import functools
import inspect
import io
import math
import os
import re
import sys
import textwrap
import typing
from typing import Annotated, Any, Literal, Optional, Sequence, TypeVar, Union

import tyro
from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec, PrimitiveTypeInfo

T = TypeVar("T")


def whole_number(text: str) -> int:
    """An int from '10000000', '1e7' or '1.6e1'; ValueError for text that is not a whole number ('2.5')."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text} is not a number") from None
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{text} is not a whole number")
    return int(value)


def _registry() -> ConstructorRegistry:
    registry = ConstructorRegistry()

    @registry.primitive_rule
    def optional(info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
        """Optional[X] of a one-value X: X's spec, so --help shows INT (not {None}|INT); None stays the default."""
        args = typing.get_args(info.type)
        if typing.get_origin(info.type) is not Union or len(args) != 2 or type(None) not in args:
            return None
        inner_type = next(a for a in args if a is not type(None))
        inner = ConstructorRegistry.get_primitive_spec(PrimitiveTypeInfo.make(inner_type, info.markers))
        if not isinstance(inner, PrimitiveConstructorSpec) or inner._action is not None:
            return None
        return PrimitiveConstructorSpec(
            nargs=inner.nargs, metavar=inner.metavar, instance_from_str=inner.instance_from_str,
            is_instance=lambda x: x is None or inner.is_instance(x),
            str_from_instance=lambda x: ["None"] if x is None else inner.str_from_instance(x), choices=inner.choices)

    @registry.primitive_rule
    def integer(info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
        if info.type is not int:
            return None
        return PrimitiveConstructorSpec(nargs=1, metavar="INT", instance_from_str=lambda a: whole_number(a[0]),
                                        is_instance=lambda x: isinstance(x, int) and not isinstance(x, bool),
                                        str_from_instance=lambda x: [str(x)])

    return registry


REGISTRY = _registry()


def field_docs(cls) -> dict[str, str]:
    """The docstring under each field of a dataclass (and of its bases), whitespace collapsed."""
    docs = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_own_field_docs(klass))
    return docs


@functools.cache
def _own_field_docs(klass) -> dict[str, str]:
    """field_docs of the fields `klass` itself declares, parsed from its source once per process."""
    for attempt in range(3):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
            break
        except (OSError, TypeError, SyntaxError):
            return {}
        except SystemError:  # CPython 3.11's ast (gh-106905): a parse that a garbage collection re-entered; again
            if attempt == 2:
                raise
    body = tree.body[0].body
    return {node.target.id: " ".join(after.value.value.split()) for node, after in zip(body, body[1:])
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)}


_POSITIONAL = typing.get_args(tyro.conf.Positional[int])[1:]


def is_positional(hint) -> bool:
    """Whether a field's type hint is marked `tyro.conf.Positional`."""
    return typing.get_origin(hint) is Annotated and any(m is p for m in typing.get_args(hint)[1:] for p in _POSITIONAL)


def flag_names(cls) -> dict[str, str]:
    """Every flag of the command line of `cls` -> its field ('--run-dir', '--run_dir', '--no-checkpoint', ...)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        if is_positional(hints[f.name]):
            continue
        for name in {f.name.replace("_", "-"), f.name}:
            out["--" + name] = f.name
            if hints[f.name] is bool:
                out["--no-" + name] = f.name
    return out


def suggest(flag: str, known: Sequence[str]) -> Optional[str]:
    """The known flag closest to `flag`: by spelling, or by initials (--learning-rate -> --lr)."""
    name = flag.lstrip("-").replace("_", "-")
    names = sorted({k.lstrip("-").replace("_", "-") for k in known})
    initials = "".join(word[0] for word in name.split("-") if word)
    if len(initials) > 1 and initials in names:
        return "--" + initials
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return "--" + close[0]
    within = [n for n in names if name in n or (len(n) > 2 and n in name)]
    return "--" + min(within, key=len) if within else None


def check_flags(cls, argv: Sequence[str], prog: str) -> None:
    """SystemExit(2) with one line for the first flag of argv that `cls` does not have."""
    known = flag_names(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    switches = {k for k, name in known.items() if hints[name] is bool}
    takes_words = any(is_positional(h) for h in hints.values())  # a word after a switch may be a positional's
    for i, arg in enumerate(argv):
        if arg == "--":
            return
        if not arg.startswith("--") or arg in ("--help",):
            continue
        flag = arg.split("=", 1)[0]
        word = argv[i + 1] if i + 1 < len(argv) else None
        if flag in switches and flag == arg and not takes_words and word is not None and not word.startswith("-"):
            hint = ": the run to continue is --run-dir DIR" if flag == "--resume" and "--run-dir" in known else ""
            fail(f"{flag} takes no value (it is on when given), got {word!r}{hint} ({prog} --help lists every flag)")
        if flag in known:
            continue
        close = suggest(flag, known)
        hint = f"; did you mean {close}?" if close else ""
        fail(f"unknown flag {flag}{hint} ({prog} --help lists every flag)")


def output_problem(path: str, flag: str) -> Optional[str]:
    """Why the file `path` (given with `flag`) cannot be written, or None: checked before any work is done."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{flag} {path!r} is a directory; give a file name"
    if not os.path.isdir(folder):
        return f"{flag} {path!r}: its folder {folder!r} " + ("is not a directory" if os.path.exists(folder) else
                                                            "does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"{flag} {path!r}: not writable"
    return None


FILE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".csv", ".json", ".jsonl", ".txt", ".md")


def output_dir_problem(path: str, flag: str, holds: str) -> Optional[str]:
    """Why `path` (given with `flag`) cannot be the output directory that receives `holds`, or None: a file there,
    or a new name that looks like a file's (`--out fig.png` would make a directory called fig.png)."""
    if os.path.isdir(path):
        return None
    if os.path.exists(path):
        return f"{flag} {path!r} is a file; it names the directory that receives {holds}"
    stem, suffix = os.path.splitext(os.path.basename(os.path.normpath(path)))
    if suffix.lower() in FILE_SUFFIXES:
        return (f"{flag} {path!r} looks like a file name, but it names the directory that receives {holds}: give "
                f"a directory, e.g. {flag} {os.path.join(os.path.dirname(os.path.normpath(path)), stem)!r}")
    return None


def run_command(main: typing.Callable[[], None]) -> None:
    """A command's `main()`, its output cut short by a closed pipe (`python -m jbn.train --help | head`) ending
    quietly, as Unix tools do, instead of with a BrokenPipeError traceback."""
    try:
        main()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's flush at exit would fail the same way
        raise SystemExit(1)


def fail(message: str) -> typing.NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


_EDGE = "│|╭╮╰╯+─- \t"


def one_line(box: str, prog: str) -> str:
    """tyro's error box as one line: the text of its first section, the title where there is none."""
    lines = [line.strip() for line in box.splitlines() if line.strip()]
    title = lines[0].strip(_EDGE) if lines else ""
    text = []
    for line in lines[1:]:  # (without a terminal tyro may draw no sides: a rule can follow the title directly)
        inner = line.strip("│|").strip()
        if not inner or set(inner) <= set("─-+╰╯"):
            if text:
                break
            continue
        text.append(inner)
    body = " ".join(t for t in text if t)
    parsing = re.fullmatch(r"Error parsing (--[\w-]+): (.*)", body)
    if parsing:  # a value that is not of the flag's type
        flag, why = parsing.groups()
        body = f"{flag} {why}" if re.fullmatch(r"\S+ is not a (whole )?number", why) else f"{flag}: {why}"
    body = body or title or "cannot parse the command line"
    return f"{body[0].lower()}{body[1:]} (see {prog} --help)"


def _default_hint(field: dataclasses.Field, doc: Optional[str]):
    """tyro's behaviour hint for a field: none where its docstring names the default, "(optional)" for a field
    left unset by default (tyro's own: "(default: None)")."""
    if doc and re.search(r"\bdefault\b", doc):
        return ""
    if field.default is None:
        return "(optional)"
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        return ""  # required: tyro says so itself, or shows an empty default for a positional list
    return None


def view(cls):
    """A subclass of the dataclass `cls` whose fields carry the help hints of `_default_hint` and their docstrings
    as one paragraph each (tyro keeps a docstring's line break before an indented or non-letter line, which broke
    `--help`'s lines in the middle of a sentence)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = field_docs(cls)
    fields = []
    for f in dataclasses.fields(cls):
        hint, doc = _default_hint(f, docs.get(f.name)), docs.get(f.name)
        if hint is None and doc is None:
            continue
        spec = dataclasses.field(default=f.default, default_factory=f.default_factory)
        fields.append((f.name, Annotated[hints[f.name], tyro.conf.arg(help=doc, help_behavior_hint=hint)], spec))
    if not fields:
        return cls
    return dataclasses.make_dataclass(cls.__name__, fields, bases=(cls,), frozen=cls.__dataclass_params__.frozen,
                                      namespace={"__doc__": cls.__doc__, "__module__": cls.__module__})


def parse(cls: type[T], argv: Optional[Sequence[str]], prog: str, description: str, default: Any = None) -> T:
    """`tyro.cli(cls, args=argv)` with the additions of the module docstring; SystemExit(2) after one `error:` line
    on bad input; SystemExit(0) after --help."""
    argv = list(sys.argv[1:] if argv is None else argv)
    check_flags(cls, argv, prog)
    shown = view(cls)
    if default is not None and shown is not cls:
        default = shown(**{f.name: getattr(default, f.name) for f in dataclasses.fields(cls)})
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            args = tyro.cli(shown, args=argv, prog=prog, description=description, default=default,
                            registry=REGISTRY)
    except SystemExit as e:
        if e.code in (0, None):
            sys.stderr.write(captured.getvalue())
            raise
        fail(one_line(captured.getvalue(), prog))
    sys.stderr.write(captured.getvalue())
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}) if shown is not cls else args


__all__ = ["parse", "whole_number", "suggest", "check_flags", "one_line", "field_docs", "Literal"]
