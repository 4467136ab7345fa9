"""CLI of :mod:`cissod.analysis.compare_logits` (its docstring: usage)."""
from cissod.analysis.compare_logits import main

if __name__ == '__main__':
    main()
