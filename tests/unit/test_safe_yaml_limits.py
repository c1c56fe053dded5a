"""The bounded loaders refuse hostile YAML and JSON quickly, without expanding it."""

from __future__ import annotations

import pytest

from prism_core.exceptions import InputError
from prism_core.safe_yaml import load_json_bounded, load_yaml_bounded

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_before_it_is_built():
    assert len(BOMB) < 700
    with pytest.raises(InputError, match="aliases"):
        load_yaml_bounded(BOMB, what="bomb", max_bytes=10_000)


def test_a_few_shared_aliases_are_fine():
    assert load_yaml_bounded("a: &a [1, 2]\nb: *a\n", what="ok", max_bytes=100) == {
        "a": [1, 2],
        "b": [1, 2],
    }


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("[" * 5000 + "]" * 5000, "nested"),
        (b"name: \xff\xfe", "UTF-8"),
        ("x" * 2000, "larger than"),
        ("a: [1, 2", "not valid YAML"),
        ("!!python/object/apply:os.system ['true']", "not valid YAML"),
    ],
)
def test_hostile_yaml_is_one_line(data, words):
    with pytest.raises(InputError, match=words) as caught:
        load_yaml_bounded(data, what="input", max_bytes=1000 if words == "larger than" else 100_000)
    assert "\n" not in str(caught.value)


def test_json_depth_and_size():
    assert load_json_bounded('{"a": "[[[["}', what="ok", max_bytes=100) == {"a": "[[[["}
    with pytest.raises(InputError, match="nested"):
        load_json_bounded("[" * 500 + "]" * 500, what="deep", max_bytes=10_000)
    with pytest.raises(InputError, match="not valid JSON"):
        load_json_bounded("{", what="bad", max_bytes=10)
