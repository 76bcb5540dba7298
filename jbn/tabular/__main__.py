"""`python -m jbn.tabular ...`: the Figure-3 run and the matrix games (see `jbn.tabular.cli`)."""
from jbn.tabular.cli import main

main()
