"""The one exception type for bad user input, in a module that imports nothing (jbn.host.distributed needs it before
jax may touch a device; jbn.training.config re-exports it)."""


class UserError(ValueError):
    """Bad input from the user (config, run directory, resume): printed as one message, exit code 2."""
