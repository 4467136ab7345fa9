"""CLI of :mod:`cissod.analysis.demo_report` (its docstring: usage)."""
from cissod.analysis.demo_report import main

if __name__ == '__main__':
    main()
