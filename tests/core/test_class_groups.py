"""``cissod_core.class_groups.resolve_class_groups``."""
import pytest

from cissod_core.class_groups import resolve_class_groups

CLASSES = ['red_circle', 'green_square', 'orange_circle', 'white_star']


def test_indices_in_group_order_without_repeats():
    groups = dict(minority=['white_star', 'orange_circle', 'white_star'],
                  majority=['red_circle'], none=[])
    assert resolve_class_groups(groups, CLASSES, 'cfg') == dict(
        minority=[3, 2], majority=[0], none=[])


def test_unknown_names_are_listed_with_a_close_match():
    with pytest.raises(ValueError) as err:
        resolve_class_groups(dict(a=['white_stars', 'zzz'], b=['red_circle']),
                             CLASSES, 'my.class_groups', 'dataset classes')
    msg = str(err.value)
    assert msg.startswith('my.class_groups names classes that are not '
                          "dataset classes: ['white_stars', 'zzz']")
    assert "'white_stars' in group 'a' (did you mean 'white_star'?)" in msg
    assert "'zzz' in group 'a'" in msg
    assert str(CLASSES) in msg
