"""Class groups (majority / minority, LVIS r / c / f, ...) by name -> index.

One resolution for the evaluation metric and the GbR telemetry, with one
error for class names that do not exist.
"""
import difflib
from typing import Dict, List, Mapping, Sequence

__all__ = ['resolve_class_groups']


def resolve_class_groups(groups: Mapping[str, Sequence[str]],
                         classes: Sequence[str],
                         source: str,
                         target: str = 'the classes') -> Dict[str, List[int]]:
    """``{group: [index into classes, ...]}`` in the group's name order.

    Args:
        groups: group name -> class names (repeats are dropped).
        classes: the known class names, e.g. ``dataset.metainfo['classes']``.
        source: where ``groups`` come from, for the error message (e.g.
            ``'val_evaluator.class_groups'``).
        target: what ``classes`` are, for the error message.

    Raises:
        ValueError: naming every unknown class (sorted), its group, a close
            known name where there is one, and the known classes.
    """
    classes = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(c) for names in groups.values() for c in names
                      if str(c) not in index})
    if unknown:
        details = []
        for group, names in groups.items():
            for name in dict.fromkeys(str(c) for c in names):
                if name in index:
                    continue
                close = difflib.get_close_matches(name, classes, n=1)
                hint = f' (did you mean {close[0]!r}?)' if close else ''
                details.append(f'{name!r} in group {str(group)!r}{hint}')
        raise ValueError(
            f'{source} names classes that are not {target}: {unknown} '
            f'({", ".join(details)}); known classes ({len(classes)}): '
            f'{classes}')
    return {
        str(group): [index[str(c)] for c in dict.fromkeys(names)]
        for group, names in groups.items()
    }
