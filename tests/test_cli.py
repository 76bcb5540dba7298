"""What a newcomer trips on at the command lines (issue 33): every mistake is one `error:` line and exit code 2 with
nothing touched, numbers are read as people type them, `--help` is clean, final results go to stdout, and nothing is
left behind. Most checks fail before anything compiles; the few that train use a 2-agent Coordination Game run of a
handful of updates."""
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from jbn import train
from jbn.evaluation import cli as evaluate_cli
from jbn.results import aggregate, archive, compare, export, plot
from jbn.tabular import cli as tabular_cli
from jbn.cmdline import flags
from jbn.training.config import SEED_LIMIT, Config, UserError, check_seeds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# cg_2 without a DAG: 2 envs x 5 steps = 10 env steps an update, 4 updates, a checkpoint after every chunk of 2
TINY = ["--env", "cg_2", "--dag", "none", "--num-envs", "2", "--num-steps", "5", "--num-epochs", "1",
        "--total-steps", "40", "--eval-episodes", "0", "--updates-per-chunk", "2", "--checkpoint-every-s", "0"]


def _exit(main, argv, capsys):
    """(exit code, stdout, stderr) of a command line's main."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_error(code, err, *needles):
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "Warning" not in err
    for needle in needles:
        assert re.search(needle, err), (needle, err)


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    """A finished run (4 updates, checkpoints at 2 and 4) that tests copy before damaging."""
    run_dir = str(tmp_path_factory.mktemp("done") / "run")
    train.main([*TINY, "--run-dir", run_dir])
    return run_dir


@pytest.fixture
def run_copy(done_run, tmp_path):
    path = str(tmp_path / "run")
    shutil.copytree(done_run, path)
    os.remove(os.path.join(path, ".lock"))
    return path


# ------------------------------------------------------------------------- 1. a resume that damages the run
@pytest.mark.parametrize("edit,needles", [
    (lambda c: c.pop("env"), [r"config\.json lacks env"]),
    (lambda c: c.pop("seed"), [r"config\.json lacks seed"]),
    (lambda c: c.update(total_steps="40"), [r"config\.json: total_steps is \"40\", not an integer"]),
    (lambda c: c.update(dag=3), [r"config\.json: dag is 3, not one of"]),
    (lambda c: c.update(learning_rate=1e-3), [r"config\.json is from another version of jbn, or was edited \(unknown "
                                              r"fields: learning_rate\)"]),
    (lambda c: c.update(env="cg_two"), [r"config\.json: env='cg_two' is not valid"]),
    (lambda c: c.update(num_envs=0), [r"config\.json: num_envs must be a positive integer, got 0"]),
])
def test_a_resume_refuses_an_edited_config_before_writing_anything(run_copy, capsys, edit, needles):
    path = os.path.join(run_copy, "config.json")
    config = json.load(open(path))
    edit(config)
    with open(path, "w") as f:
        json.dump(config, f)
    before = {name: open(os.path.join(run_copy, name), "rb").read() for name in ("config.json", "metrics.jsonl")}
    code, out, err = _exit(train.main, ["--run-dir", run_copy, "--resume"], capsys)
    _one_error(code, err, "--resume: ", *needles)
    assert {name: open(os.path.join(run_copy, name), "rb").read() for name in before} == before
    assert not os.path.exists(os.path.join(run_copy, ".lock"))  # refused before the run was even locked


# ------------------------------------------------------------------------- 2. silent wrong numbers
@pytest.mark.parametrize("argv,needles", [
    (["--seed", str(2**40)], [r"seed 1099511627776 is too large: PRNG keys take seeds 0 \.\. 4294967295"]),
    (["--seed", str(SEED_LIMIT - 5000)], [r"with the evaluation's seed offset 10,000 the seed must be at most "
                                          r"4294957295"]),
    (["--seed", str(SEED_LIMIT - 1), "--num-seeds", "3"], [r"must be at most"]),
    (["--sweep", "lr=1e-3,2e-3", "--lr", "5e-4"], [r"--lr and --sweep lr=\.\.\.: the sweep sets lr in every run"]),
    (["--sweep", "gamma=0.9,0.99", "--gamma=0.95"], [r"--gamma and --sweep gamma"]),
])
def test_a_seed_that_would_wrap_and_a_flag_a_sweep_overrides_are_refused(tmp_path, capsys, argv, needles):
    code, _, err = _exit(train.main, [*TINY, "--run-dir", str(tmp_path / "r"), *argv], capsys)
    _one_error(code, err, *needles)
    assert not (tmp_path / "r").exists()


def test_the_seed_range_is_exact():
    check_seeds("seed", SEED_LIMIT - 1 - 10_000, 1, 10_000)
    check_seeds("seed", SEED_LIMIT - 3, 3)
    with pytest.raises(UserError, match="at most 4294957295"):
        check_seeds("seed", SEED_LIMIT - 10_000, 1, 10_000)
    with pytest.raises(UserError, match="must be an integer >= 0"):
        check_seeds("seed", -1)


def test_evaluate_refuses_a_seed_that_would_wrap(run_copy, capsys):
    code, _, err = _exit(evaluate_cli.main, [run_copy, "--seed", str(2**32)], capsys)
    _one_error(code, err, r"--seed 4294967296 is too large")


# ------------------------------------------------------------------------- 3. damaged logs
def _write_run(path, junk=b""):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"env": "cg_2", "dag": "none"}))
    rows = [{"seed": s, "update": u, "env_steps": 10 * u, "episode_return": float(s + u)}
            for s in (0, 1) for u in (1, 2, 3)]
    (path / "metrics.jsonl").write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + junk)
    return str(path)


JUNK = b"\x89PNG\x00\xff binary\n\xfe\xff\n"  # two lines that are not UTF-8 text


def test_plot_and_compare_skip_binary_junk_with_a_note(tmp_path, capsys):
    a, b = _write_run(tmp_path / "a", JUNK), _write_run(tmp_path / "b", JUNK)
    code, out, err = _exit(plot.main, [a, "--out", str(tmp_path / "figs")], capsys)
    assert code == 0 and "Traceback" not in err
    assert re.search(r"note: .*a/metrics\.jsonl: skipped 2 unreadable line\(s\) \(line 7: not UTF-8 text; line 8: "
                     r"not UTF-8 text\)", out + err)
    code, out, err = _exit(compare.main, [a, b], capsys)
    assert code == 0 and "| run |" in out and "not UTF-8 text" in err


def test_the_resume_reader_skips_junk_with_a_note(tmp_path):
    from jbn.host import rundir

    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"update": 1}\n' + JUNK + b'{"update": 2}\n{"upd')
    notes = []
    assert rundir.read_log_rows(str(path), 5, notes.append) == ['{"update": 1}\n', '{"update": 2}\n']
    assert notes == [f"{path}: dropped 3 unreadable line(s) (line 2: not UTF-8 text; line 3: not UTF-8 text; "
                     f"line 5: not a row (a write cut short?))"]


def test_a_resume_over_binary_junk_continues(run_copy, capsys):
    with open(os.path.join(run_copy, "metrics.jsonl"), "ab") as f:
        f.write(JUNK)
    code, _, err = _exit(train.main, ["--run-dir", run_copy, "--resume", "--total-steps", "60"], capsys)
    assert code == 0 and "Traceback" not in err and "not UTF-8 text" in err
    updates = [json.loads(line)["update"] for line in open(os.path.join(run_copy, "metrics.jsonl"))]
    assert updates == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("cli", ["plot", "compare", "archive", "export", "resume"])
def test_a_log_that_is_a_directory_is_one_error(tmp_path, run_copy, capsys, cli):
    a = _write_run(tmp_path / "a")
    for run in (a, run_copy):
        for stem in ("metrics", "eval"):
            p = os.path.join(run, f"{stem}.jsonl")
            if os.path.exists(p):
                os.remove(p)
            os.mkdir(p)
    main, argv = {
        "plot": (plot.main, [a, "--out", str(tmp_path / "figs")]),
        "compare": (compare.main, [a, a]),
        "archive": (archive.main, [a, "--out", str(tmp_path / "arch")]),
        "export": (export.main, [a, "--marl-eval", str(tmp_path / "x.json")]),
        "resume": (train.main, ["--run-dir", run_copy, "--resume"]),
    }[cli]
    code, _, err = _exit(main, argv, capsys)
    _one_error(code, err, r"(metrics|eval)\.jsonl is a directory, not a log file")


@pytest.mark.parametrize("cli", ["plot", "aggregate", "archive"])
@pytest.mark.parametrize("out", ["figs.png", "sub/table.CSV", "a_file"])
def test_an_output_directory_named_like_a_file_is_refused_before_any_work(tmp_path, capsys, cli, out):
    """--out names a directory; `--out figs.png` used to make a directory called figs.png."""
    a = _write_run(tmp_path / "a")
    (tmp_path / "a_file").write_text("kept")
    path = str(tmp_path / out)
    main = {"plot": plot.main, "aggregate": aggregate.main, "archive": archive.main}[cli]
    code, _, err = _exit(main, [a, "--out", path], capsys)
    if out == "a_file":
        _one_error(code, err, re.escape(f"--out {path!r} is a file; it names the directory that receives"))
        assert (tmp_path / "a_file").read_text() == "kept"
    else:
        stem = os.path.splitext(path)[0]
        _one_error(code, err, re.escape(f"--out {path!r} looks like a file name, but it names the directory that "
                                        "receives") + r".*" + re.escape(f"e.g. --out {stem!r}"))
        assert not os.path.exists(path)


def test_compare_to_an_unwritable_json_is_refused_before_the_table(tmp_path, capsys):
    a = _write_run(tmp_path / "a")
    code, out, err = _exit(compare.main, [a, a, "--json", str(tmp_path / "no" / "such" / "x.json")], capsys)
    _one_error(code, err, r"--json .*: its folder .* does not exist")
    assert out == ""
    code, out, err = _exit(compare.main, [a, a, "--json", str(tmp_path)], capsys)
    _one_error(code, err, r"is a directory; give a file name")


def test_evaluate_to_an_unwritable_out_is_refused_before_compiling(run_copy, tmp_path, capsys):
    code, _, err = _exit(evaluate_cli.main, [run_copy, "--out", str(tmp_path / "no" / "x.json")], capsys)
    _one_error(code, err, r"--out .*: its folder .* does not exist")


def _as_archived(run_dir: str, keep_checkpoint: bool) -> None:
    """The run as jbn.archive (no checkpoint) or docs/repro/unfinished (its newest checkpoint) keep it: logs gzipped."""
    import gzip

    from jbn.host import checkpoint as ckpt

    for stem in ("metrics", "eval"):
        path = os.path.join(run_dir, f"{stem}.jsonl")
        with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
            dst.write(src.read())
        os.remove(path)
    if not keep_checkpoint:
        shutil.rmtree(ckpt.root(run_dir))


@pytest.mark.parametrize("keep_checkpoint", [False, True])
def test_an_archived_copy_is_not_resumed_in_place(run_copy, capsys, keep_checkpoint):
    """Resuming an archive used to start again from update 0 beside it; resuming a kept copy with its checkpoint
    continued with new logs that lacked every earlier row. Both are refused, pointing to the restore command."""
    _as_archived(run_copy, keep_checkpoint)
    before = sorted(os.listdir(run_copy))
    code, _, err = _exit(train.main, ["--run-dir", run_copy, "--resume"], capsys)
    assert code == 2 and re.search("^error: " + re.escape(f"{run_copy!r} holds an archived copy of a run (its logs are "
                                                          "gzipped: metrics.jsonl.gz)") +
                                   r".*sync\.sh restore NAME NEW_RUN_DIR", err, re.M), err
    assert "Traceback" not in err and not re.search(r"^(done|resume): ", err, re.M), err
    assert sorted(set(os.listdir(run_copy)) - {".lock"}) == before  # (the run directory's lock file stays, as always)


def test_evaluating_an_archived_run_says_where_its_results_are(run_copy, capsys):
    _as_archived(run_copy, keep_checkpoint=False)
    code, _, err = _exit(evaluate_cli.main, [run_copy], capsys)
    _one_error(code, err, r"no checkpoints in .*: an archived run keeps none; its final evaluation is in "
                          r".*summary\.json")


# ------------------------------------------------------------------------- 4. the success line
@pytest.mark.parametrize("argv,needle", [
    (["--dag", "line"], r"cannot resume .* dag: run has 'none', now 'line'"),
    (["--total-steps", "20"], r"has already done 4 updates, more than total_steps = 20 allows"),
    ("damage", r"no loadable checkpoint .* every one is damaged"),
])
def test_a_refused_resume_prints_no_done_line(run_copy, capsys, argv, needle):
    if argv == "damage":
        from jbn.host import checkpoint as ckpt

        for u in ckpt.list_updates(run_copy):
            with open(os.path.join(ckpt.root(run_copy), str(u), "manifest.json"), "w") as f:
                f.write("{")
        argv = []
    code, _, err = _exit(train.main, ["--run-dir", run_copy, "--resume", *argv], capsys)
    assert code == 2 and re.search(needle, err), err
    assert not re.search(r"^(done|resume): ", err, re.M), err


# ------------------------------------------------------------------------- 5. numbers as people type them
def test_whole_numbers_in_float_notation_are_integers():
    cfg = flags.parse(Config, ["--total-steps", "1e7", "--num-envs", "1.6e1", "--eval-every", "2e1",
                               "--seed", "1_000"], prog="python -m jbn.train", description="")
    assert (cfg.total_steps, cfg.num_envs, cfg.eval_every, cfg.seed) == (10_000_000, 16, 20, 1000)
    assert all(type(v) is int for v in (cfg.total_steps, cfg.num_envs, cfg.eval_every))
    assert isinstance(cfg, Config) and type(cfg) is Config


@pytest.mark.parametrize("argv,needle", [
    (["--total-steps", "1.5e0"], r"--total-steps 1\.5e0 is not a whole number"),
    (["--num-envs", "2.5"], r"--num-envs 2\.5 is not a whole number"),
    (["--num-seeds", "many"], r"--num-seeds many is not a number"),
    (["--learning-rate", "3e-4"], r"unknown flag --learning-rate; did you mean --lr\?"),
    (["--num-env", "4"], r"unknown flag --num-env; did you mean --num-envs\?"),
    (["--dag", "contxt"], r"invalid choice 'contxt' for argument '--dag'"),
    (["--lr"], r"missing value for argument '--lr'"),
    (["--resume", "runs/x"], r"--resume takes no value \(it is on when given\), got 'runs/x': the run to continue "
                             r"is --run-dir DIR"),
    (["--tensorboard", "yes"], r"--tensorboard takes no value \(it is on when given\), got 'yes' \("),
])
def test_train_flags_are_one_error_line(tmp_path, capsys, argv, needle):
    code, _, err = _exit(train.main, ["--run-dir", str(tmp_path / "r"), *argv], capsys)
    _one_error(code, err, needle)
    assert not (tmp_path / "r").exists()


CLIS = {
    "train": (train.main, [], Config),
    "evaluate": (evaluate_cli.main, ["RUN"], evaluate_cli.EvalArgs),
    "plot": (plot.main, ["RUN", "--out", "x"], plot.PlotArgs),
    "compare": (compare.main, ["A", "B"], compare.CompareArgs),
    "archive": (archive.main, ["RUN", "--out", "x"], archive.Args),
    "export": (export.main, ["RUN", "--marl-eval", "x.json"], export.ExportArgs),
    "aggregate": (aggregate.main, ["RUN", "--out", "x"], aggregate.AggregateArgs),
    "tabular": (tabular_cli.main, [], tabular_cli.TabularConfig),
}


@pytest.mark.parametrize("name", sorted(CLIS))
def test_an_unknown_flag_is_one_line_with_a_suggestion_in_every_cli(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main, argv, _ = CLIS[name]
    code, _, err = _exit(main, [*argv, "--outt", "y"], capsys)
    _one_error(code, err, rf"unknown flag --outt(; did you mean --out\?)? \(python -m jbn\.{name} --help")
    assert os.listdir(tmp_path) == []


def test_an_unknown_flag_of_jbn_tabular_is_one_line():
    r = subprocess.run([sys.executable, "-m", "jbn.tabular", "--iter", "5"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 2 and r.stderr == "error: unknown flag --iter; did you mean --iters? (python -m jbn.tabular " \
                                             "--help lists every flag)\n"


def test_jbn_tabular_takes_1e1_for_an_integer_and_refuses_2_5(tmp_path, capsys):
    code, _, err = _exit(tabular_cli.main, ["--iters", "2.5"], capsys)
    _one_error(code, err, r"--iters 2\.5 is not a whole number")
    out = tmp_path / "r.json"
    tabular_cli.main(["--game", "climbing", "--dags", "none", "--seeds", "2", "--iters", "1e1", "--eval-every", "5",
                      "--out", str(out)])
    assert json.loads(out.read_text())[0]["iters"][-1] == 10


# ------------------------------------------------------------------------- 6. clean --help
@pytest.mark.parametrize("name", sorted(CLIS))
def test_help_names_the_module_shows_one_default_and_keeps_every_flag(name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    main, _, cls = CLIS[name]
    code, out, _ = _exit(main, ["--help"], capsys)
    assert code == 0 and out.startswith(f"usage: python -m jbn.{name} ")
    assert not re.search(r"\b(STR|INT|FLOAT)\b", out.splitlines()[0]), out.splitlines()[0]  # positionals named
    assert "(default: None)" not in out and "{None" not in out and "None}" not in out
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())
    docs = flags.field_docs(cls)
    for name, doc in docs.items():
        # tyro's default after a docstring that names its own ("default_rng" names none)
        assert f"{doc} (default" not in flat or not re.search(r"\bdefault\b", doc), name
    hints = __import__("typing").get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        if not flags.is_positional(hints[f.name]):
            assert f"--{f.name.replace('_', '-')}" in flat
        if f.name in docs:
            assert docs[f.name] in flat, f.name
    # each flag's help is one paragraph: at 400 columns every docstring sits on its flag's line, unbroken
    lines = [" ".join(re.sub(r"[│╭╮╰╯─]", " ", line).split()) for line in out.splitlines()]
    for name, doc in docs.items():
        assert any(doc in line for line in lines), name


# ------------------------------------------------------------------------- 7. files left behind
def test_the_real_game_missing_leaves_no_run_directory(tmp_path, capsys):
    code, _, err = _exit(train.main, ["--env", "sc2_6h_vs_8z", "--run-dir", str(tmp_path / "r")], capsys)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_sigterm_while_compiling_says_how_to_start_again_and_unlocks(tmp_path):
    run_dir = str(tmp_path / "r")
    p = subprocess.Popen([sys.executable, "-m", "jbn.train", *TINY, "--run-dir", run_dir], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "JBN_COMPILE_CACHE": "off"})  # a compile to interrupt, not a cache hit
    lines = []
    for line in p.stderr:  # the header is printed just before the compile starts
        lines.append(line)
        if "memory estimate" in line:
            p.send_signal(signal.SIGTERM)
            break
    rest = p.communicate(timeout=120)
    err = "".join(lines) + rest[1]
    assert p.returncode == 128 + signal.SIGTERM, err
    assert re.search(rf"SIGTERM: stopped before the first update of {run_dir}; start it again with: python -m "
                     rf"jbn\.train --run-dir {run_dir} --resume \(or delete {run_dir}\)", err), err
    assert "Traceback" not in err
    assert sorted(os.listdir(run_dir)) == ["config.json"]


# ------------------------------------------------------------------------- 8, 9. output streams, the header
def test_final_results_go_to_stdout_and_the_header_says_memory_and_rounding(tmp_path, capsys):
    argv = [a if a != "40" else "45" for a in TINY]
    argv[argv.index("--eval-episodes") + 1] = "2"
    code, out, err = _exit(train.main, [*argv, "--run-dir", str(tmp_path / "r")], capsys)
    assert code == 0
    assert out.startswith("final eval joint: return ")  # (dag none: the decentralised policy is the same)
    assert "final eval" not in err and "run dir:" in err and "done:" in err
    assert re.search(r"memory estimate [\d.,]+ (MiB|KiB) per device of", err), err
    assert "--total-steps 45 is 4 updates of 10 env steps (num_envs 2 x num_steps 5): 40 env steps per seed" in err


@dataclasses.dataclass
class _Documented:
    lr: float = 1e-3
    """The step size,
    of Adam."""
    seeds: int = 1


def test_field_docs_survive_cpython_311s_spurious_ast_error_and_are_parsed_once(monkeypatch):
    """ast.parse failing once with CPython 3.11's "recursion depth mismatch" (gh-106905: a garbage collection that
    re-enters a parse; it failed CI once) is retried; each class's source is parsed once per process."""
    flags._own_field_docs.cache_clear()
    calls, real = [], flags.ast.parse

    def flaky(source, *a, **k):
        calls.append(source)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=159, after=212)")
        return real(source, *a, **k)

    monkeypatch.setattr(flags.ast, "parse", flaky)
    assert flags.field_docs(_Documented) == {"lr": "The step size, of Adam."}
    parsed = len(calls)  # inspect.getsource parses too (it finds a class's lines with ast on 3.11)
    assert flags.field_docs(_Documented) == {"lr": "The step size, of Adam."}
    assert len(calls) == parsed


# ------------------------------------------------------------------------- python -m jbn
def _jbn(*args):
    return subprocess.run([sys.executable, "-m", "jbn", *args], capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_python_m_jbn_lists_every_command_module_and_runs_one():
    """Every jbn/<name>.py that runs as `python -m jbn.<name>` (it ends in a __main__ guard, or is a package with a
    __main__.py) is listed, and only those; `python -m jbn COMMAND ...` is `python -m jbn.COMMAND ...`."""
    from jbn.__main__ import COMMANDS

    pkg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jbn")
    runnable = {f[:-3] for f in os.listdir(pkg) if f.endswith(".py") and f != "__main__.py"
                and 'if __name__ == "__main__"' in open(os.path.join(pkg, f)).read()}
    runnable |= {d for d in os.listdir(pkg) if os.path.isfile(os.path.join(pkg, d, "__main__.py"))}
    assert set(COMMANDS) == runnable
    r = _jbn()
    assert r.returncode == 0 and r.stderr == ""
    for name in runnable:
        assert re.search(rf"^  {name} ", r.stdout, re.M), name
    r = _jbn("compare", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m jbn.compare ")
    r = _jbn("trian", "--env", "cg_2")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("error: unknown command 'trian'; did you mean 'train'? Valid commands: "
                        + ", ".join(COMMANDS) + " (python -m jbn lists them)\n")


@pytest.mark.parametrize("name", ["train", "evaluate", "plot", "compare", "export", "aggregate", "archive", "tabular"])
def test_help_into_a_closed_pipe_ends_quietly(name):
    """`python -m jbn.<name> --help | head -1`: the reader gone, the command ends without a BrokenPipeError
    traceback (as Unix tools do)."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first byte: every write fails with EPIPE
    try:
        r = subprocess.run([sys.executable, "-m", f"jbn.{name}", "--help"], stdout=write, stderr=subprocess.PIPE,
                           text=True, timeout=300, env={**os.environ, "COLUMNS": "100"})
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 1
