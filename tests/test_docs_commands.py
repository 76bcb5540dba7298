"""The commands README.md and docs/*.md tell a reader to run still work as written: every `python -m jbn.train` line
parses and resolves (its flags, env name, kwargs and sizes; nothing is trained), and every archived run directory or
file the docs' `jbn.compare`/`jbn.plot`/... lines read exists in the repository. Placeholders are filled the way a
reader would: `<dir>` a fresh directory, `none|full|context` each choice, `[--flag x]` with and without, `cg_N`
cg_2, `smax_<map>` smax_3m, `L` 5."""
import glob
import itertools
import os
import re
import shlex

import pytest

from jbn.cmdline import flags
from jbn.training.config import Config, resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", *sorted(os.path.join("docs", p) for p in glob.glob("*.md", root_dir=os.path.join(ROOT, "docs")))]
FILL = [(r"<dir>", "{tmp}"), (r"<seed>", "0"), (r"<dag>", "none"), (r"cg_N(?![A-Za-z0-9])", "cg_2"), (r"smax_<map>", "smax_3m"),
        (r"--sinkhorn-iters L\b", "--sinkhorn-iters 5")]
# not checkable here: several hosts, a run to resume, the real game's server, or the flag list
SKIP = re.compile(r"--coordinator|--resume|--help|\.\.\.|\bNAME\b|\bRUN_DIR\b|\bSTEPS\b|\bmy_pkg\b")


def command_lines() -> list[tuple[str, str]]:
    """(doc, command) for every `python -m jbn.<x> ...` in a code block or inline code span of the docs."""
    out = []
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc)).read()
        spans = []
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            block = re.sub(r"\\\n\s*", " ", block)  # continued lines joined
            spans += [re.split(r"\s#\s", line)[0] for line in block.splitlines()]  # comments dropped
        spans += [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))]
        for span in spans:
            for part in re.split(r"\s*(?:&&|;)\s*", span.strip()):
                if re.match(r"python -m jbn\.\w+ ", part):
                    out.append((doc, part))
    return out


def variants(command: str) -> list[str]:
    """The command with its placeholders filled: every choice of `a|b|c` and of each optional `[...]`."""
    for pattern, value in FILL:
        command = re.sub(pattern, value, command)
    optional = re.findall(r"\[([^\]]+)\]", command)
    template = re.sub(r"\[[^\]]+\]", "{}", command.replace("{tmp}", "{{tmp}}"))
    out = []
    for keep in itertools.product((False, True), repeat=len(optional)):
        filled = template.format(*[o if k else "" for o, k in zip(optional, keep)])
        words = [w.split("|") if re.fullmatch(r"[\w.]+(\|[\w.]+)+", w) else [w] for w in shlex.split(filled)]
        out += [" ".join(choice) for choice in itertools.product(*words)]
    return out


TRAIN = sorted({(doc, v) for doc, c in command_lines() if c.startswith("python -m jbn.train ") and not SKIP.search(c)
                for v in variants(c)})


def test_the_docs_have_train_commands_to_check():
    assert len(TRAIN) >= 30 and {doc for doc, _ in TRAIN} >= {"README.md", "docs/reproduction.md"}


@pytest.mark.parametrize("doc, command", TRAIN)
def test_every_train_command_in_the_docs_parses_and_resolves(doc, command, tmp_path):
    argv = shlex.split(command.replace("{tmp}", str(tmp_path / "run")))[3:]
    flags.check_flags(Config, argv, "python -m jbn.train")
    cfg = flags.parse(Config, argv, prog="python -m jbn.train", description="")
    if cfg.env.startswith("sc2_"):
        pytest.importorskip("pysc2")
    resolve(cfg)


def test_every_archived_run_the_docs_read_exists():
    """The paths under docs/ that the docs' compare/plot/evaluate/export/aggregate/archive lines read."""
    missing, seen = [], 0
    for doc, command in command_lines():
        if command.split()[2] == "jbn.train":
            continue
        for pattern, value in FILL:
            command = re.sub(pattern, value, command)
        for word in shlex.split(re.sub(r"\[[^\]]*\]", "", command))[3:]:
            if not word.startswith("docs/") or word.startswith("-"):
                continue
            seen += 1
            alternatives = re.fullmatch(r"(.*)\{([^}]+)\}(.*)", word)
            paths = ([alternatives[1] + a + alternatives[3] for a in alternatives[2].split(",")] if alternatives
                     else [word])
            for path in paths:
                if not glob.glob(os.path.join(ROOT, path)) and not _written_by(command, word):
                    missing.append(f"{doc}: {path} ({command[:80]}...)")
    assert seen >= 10 and not missing, "\n".join(missing)


def _written_by(command: str, word: str) -> bool:
    """`word` is the command's output (after --out, --json, --marl-eval, --plot, or replot's last argument)."""
    words = shlex.split(command)
    i = words.index(word)
    return words[i - 1] in ("--out", "--json", "--marl-eval", "--plot") or (
        words[2] == "jbn.tabular.replot" and i == len(words) - 1)
