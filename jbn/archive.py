"""`python -m jbn.archive RUN... --out DIR`: slim gzipped copies of run logs for the repository.

The command line only; jbn/results/archive.py holds its flags and its work."""
from .results.archive import main

if __name__ == "__main__":
    main()
