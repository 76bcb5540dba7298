"""The persistent compilation cache of jbn's commands (jbn/host/compile_cache.py): where it goes, how it is turned
off, and that a program compiled after `enable()` lands on disk and is read back by the next process."""
import os
import subprocess
import sys
import textwrap

from jbn.host import compile_cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_folder_default_explicit_and_off(tmp_path):
    key = compile_cache.machine_key()
    assert len(key) == 16 and key == compile_cache.machine_key()
    home = {"HOME": str(tmp_path / "home")}
    assert compile_cache.cache_dir(home) == os.path.join(str(tmp_path / "home"), ".cache", "jbn", "xla", key)
    assert compile_cache.cache_dir({**home, "XDG_CACHE_HOME": "/xdg"}) == os.path.join("/xdg", "jbn", "xla", key)
    assert compile_cache.cache_dir({"JBN_COMPILE_CACHE": "/c"}) == os.path.join("/c", key)
    for off in ("off", "OFF", "0", "false", "no", "", " "):
        assert compile_cache.cache_dir({"JBN_COMPILE_CACHE": off}) is None, off
    # JAX's own setting is the user's choice: jbn leaves it alone
    assert compile_cache.cache_dir({"JAX_COMPILATION_CACHE_DIR": "/j", "JBN_COMPILE_CACHE": "/c"}) is None


def test_unwritable_folder_warns_and_runs_without(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert compile_cache.enable({"JBN_COMPILE_CACHE": str(blocker / "sub")}) is None
    assert "no compilation cache" in capsys.readouterr().err


_PROGRAM = textwrap.dedent("""
    import sys, jax, jax.numpy as jnp
    jnp.ones(3).block_until_ready()  # JAX compiles something before the cache is turned on, as envs_jax's imports do
    from jbn.host import compile_cache
    path = compile_cache.enable()
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # cache even this tiny program
    f = jax.jit(lambda x: jnp.sin(x) * 3.0 + jnp.cumsum(x))
    print(path, float(f(jnp.arange(5.0)).sum()), compile_cache.read_so_far()[0], repr(compile_cache.note()))
""")


def _run(env):
    out = subprocess.run([sys.executable, "-c", _PROGRAM], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    path, total, read, note = out.stdout.split(" ", 3)
    return path, total, int(read), note.strip()


def test_second_process_reads_the_first_ones_program(tmp_path):
    env = {**os.environ, "JBN_COMPILE_CACHE": str(tmp_path)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    path, total, read, note = _run(env)
    assert path == os.path.join(str(tmp_path), compile_cache.machine_key())
    assert (read, note) == (0, "''")  # compiled, nothing read
    entries = {e for e in os.listdir(path) if e.startswith("jit_")}
    assert entries, os.listdir(path)
    path2, total2, read2, note2 = _run(env)  # the same program again: read from the cache (no new entry), same result
    assert (path2, total2) == (path, total)
    assert read2 >= 1 and f"{read2} program" in note2 and "from the compile cache" in note2
    assert {e for e in os.listdir(path) if e.startswith("jit_")} == entries
    # turned off: nothing written, nothing read
    off = {**env, "JBN_COMPILE_CACHE": "off"}
    assert _run(off)[0] == "None" and _run(off)[2] == 0
