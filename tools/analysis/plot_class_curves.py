"""CLI of :mod:`cissod.analysis.plot_class_curves` (its docstring: usage)."""
from cissod.analysis.plot_class_curves import main

if __name__ == '__main__':
    main()
