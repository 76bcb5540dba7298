"""`python -m jbn.tabular ...`: the Figure-3 run and the matrix games (see `jbn.tabular.cli`)."""
from jbn.cmdline.flags import run_command
from jbn.tabular.cli import main

run_command(main)
