"""Bounded JSON parsing: hostile nesting and size are typed errors with a precise message, never RecursionError."""
from __future__ import annotations

import json

import pytest

from tinycode_jupyter.json_limits import (
    MAX_ARGUMENT_CHARS,
    MAX_ARGUMENT_DEPTH,
    JSONLimitError,
    JSONTooDeep,
    JSONTooLarge,
    check_depth,
    loads_bounded,
    nesting_depth,
)

HOSTILE_DEEP = {
    "list_100k_deep": "[" * 100_000 + "]" * 100_000,
    "object_100k_deep": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "unclosed_list_100k_deep": "[" * 100_000,
    "deep_inside_a_valid_object": '{"code": "x", "extra": ' + "[" * 100_000 + "]" * 100_000 + "}",
}


@pytest.mark.parametrize("text", HOSTILE_DEEP.values(), ids=HOSTILE_DEEP.keys())
def test_hostile_nesting_is_too_deep_not_a_recursion_error(text):
    with pytest.raises(JSONTooDeep) as caught:
        loads_bounded(text)
    assert str(caught.value) == f"arguments nested deeper than {MAX_ARGUMENT_DEPTH} levels"
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, JSONLimitError)


def test_nesting_right_at_the_limit_parses():
    text = "[" * MAX_ARGUMENT_DEPTH + "]" * MAX_ARGUMENT_DEPTH
    assert loads_bounded(text) == json.loads(text)
    with pytest.raises(JSONTooDeep):
        loads_bounded("[" + text + "]")


def test_brackets_inside_strings_do_not_count():
    code = {"code": "x = " + "[" * 5000 + "]" * 5000 + '\nprint("]]]{{{\\"[[[")'}
    assert loads_bounded(json.dumps(code)) == code
    assert nesting_depth(json.dumps(code)) == 1


@pytest.mark.parametrize(
    ("text", "depth"),
    [("", 0), ("1", 0), ("{}", 1), ('{"a": [1, {"b": []}]}', 4), ('["]", "\\\\", [[]]]', 3), ('"[[[', 0), ("]]][", 0)],
)
def test_nesting_depth_of_texts(text, depth):
    assert nesting_depth(text) == depth


def test_text_over_the_size_limit_is_too_large_before_it_is_parsed():
    huge = json.dumps({"content": "x" * (MAX_ARGUMENT_CHARS + 1)})
    with pytest.raises(JSONTooLarge) as caught:
        loads_bounded(huge)
    assert str(caught.value) == f"arguments longer than {MAX_ARGUMENT_CHARS:,} characters"
    with pytest.raises(JSONTooLarge, match="cassette longer than 10 characters"):
        loads_bounded('{"a": "0123456789"}', max_chars=10, what="cassette")


def test_malformed_json_is_still_a_decode_error():
    with pytest.raises(json.JSONDecodeError):
        loads_bounded("{not json")
    with pytest.raises(json.JSONDecodeError):
        loads_bounded('{"code": "unterminated ' + "[" * 100_000)


def test_check_depth_walks_data_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(JSONTooDeep, match=f"result nested deeper than {MAX_ARGUMENT_DEPTH} levels"):
        check_depth(deep, what="result")
    check_depth({"a": [1, (2, {"b": "c"})]}, max_depth=4)
    with pytest.raises(JSONTooDeep):
        check_depth({"a": [1, (2, {"b": "c"})]}, max_depth=3)


def test_check_depth_stops_on_a_structure_that_contains_itself():
    loop: list = []
    loop.append(loop)
    with pytest.raises(JSONTooDeep):
        check_depth(loop)
