import os

# Tests run on the CPU; keep XLA from grabbing every core thread pool at once.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
