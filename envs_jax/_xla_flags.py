"""XLA CPU workaround, applied on import before any JAX backend starts.

With jaxlib 0.10.2 on a 2-core CPU, XLA's concurrency-optimised scheduler deadlocked programs that nest
batched dots under two vmaps (seeds x envs) inside lax.scan: the run sat forever with the thread pool
waiting on itself. Turning that scheduler off removes the hang. The flag only affects the CPU backend.
"""
import os

_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"

if "xla_cpu_enable_concurrency_optimized_scheduler" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
