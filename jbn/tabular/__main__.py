"""`python -m jbn.tabular ...`: the Figure-3 run (see `jbn.tabular.cli`).

An unknown flag is one `error:` line naming the closest known flag, as in every jbn command line (their parser,
jbn/training/flags.py, lives in a package of this layer, which this one may not import)."""
import dataclasses
import difflib
import sys

from jbn.tabular.cli import TabularConfig, main


def unknown_flag(argv) -> str | None:
    """The message for the first flag of argv that TabularConfig does not have (None: every flag is known)."""
    names = {f.name.replace("_", "-") for f in dataclasses.fields(TabularConfig)}
    names |= {"no-" + f.name.replace("_", "-") for f in dataclasses.fields(TabularConfig) if f.type in (bool, "bool")}
    for arg in argv:
        if arg == "--":
            return None
        name = arg.split("=", 1)[0][2:].replace("_", "-") if arg.startswith("--") else None
        if name is None or name in names or name == "help":
            continue
        close = difflib.get_close_matches(name, sorted(names), n=1)
        hint = f"; did you mean --{close[0]}?" if close else ""
        return f"unknown flag --{name}{hint} (python -m jbn.tabular --help lists every flag)"
    return None


problem = unknown_flag(sys.argv[1:])
if problem:
    print(f"error: {problem}", file=sys.stderr)
    raise SystemExit(2)
main()
