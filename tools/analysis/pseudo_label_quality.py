"""CLI of :mod:`cissod.analysis.pseudo_label_quality` (usage: docstring)."""
from cissod.analysis.pseudo_label_quality import main

if __name__ == '__main__':
    main()
