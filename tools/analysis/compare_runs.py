"""CLI of :mod:`cissod.analysis.compare_runs` (its docstring: usage)."""
from cissod.analysis.compare_runs import main

if __name__ == '__main__':
    main()
