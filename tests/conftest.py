import os
import tempfile

# Tests run on the CPU; keep XLA from grabbing every core thread pool at once.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The commands' compilation cache (jbn/host/compile_cache.py): the tests' own folder, never the user's ~/.cache;
# shared by the workers, so a program two tests compile alike (a run and its resume) is compiled once.
os.environ.setdefault("JBN_COMPILE_CACHE", os.path.join(tempfile.gettempdir(), f"jbn-tests-xla-{os.getuid()}"))
