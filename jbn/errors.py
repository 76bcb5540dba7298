"""The one exception type for bad user input, in a module that imports nothing (jbn.distributed needs it before
jax may touch a device; jbn.config re-exports it)."""


class UserError(ValueError):
    """Bad input from the user (config, run directory, resume): printed as one message, exit code 2."""
