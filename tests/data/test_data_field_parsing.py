"""The vectorised number parsers agree with Python's own int() and float() on every token."""

from __future__ import annotations

import datetime
import re

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nprec.data.fields import blocks, split_fixed, split_tokens
from nprec.data.numbers import parse_datetime, parse_float, parse_ids, parse_int


def column_of(tokens: list[str], what: str = "value"):
    data = ("\n".join(tokens) + "\n").encode()
    (buf, line), = list(blocks(data, 0, 1))
    return split_fixed(buf, line, 0x09, 1, "t.tsv", "tabs").column(0, what)


floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),           # shortest repr
    st.floats(-1e9, 1e9, allow_nan=False).map(lambda x: f"{x:.3f}"),
    st.integers(-10 ** 15, 10 ** 15).map(str),
    st.decimals(-10 ** 6, 10 ** 6, places=4, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["0", "-0", ".5", "5.", "+3.25", "1e5", "2.5E-3", "0.1", "4.0"]),
)


@given(st.lists(floats, min_size=1, max_size=30))
def test_parse_float_matches_python_float(tokens):
    values = parse_float(column_of(tokens))
    expected = np.array([float(t) for t in tokens])
    assert np.array_equal(values, expected), (tokens, values, expected)


@given(st.lists(st.integers(-10 ** 18 + 1, 10 ** 18 - 1), min_size=1, max_size=30))
def test_parse_int_matches_python_int(numbers):
    values = parse_int(column_of([str(n) for n in numbers]))
    assert values.tolist() == numbers


@given(st.lists(st.one_of(st.integers(0, 10 ** 12).map(str),
                          st.text("ab0123456789-_", min_size=1, max_size=6)),
                min_size=1, max_size=20))
@example(["-0"])                  # once read as 0, the same id as "0" (found by the deep run)
@example(["--0"])
def test_auto_ids_are_integers_only_in_canonical_spelling(tokens):
    values, col = parse_ids(column_of(tokens, "id"), integers=False)
    canonical = all(re.fullmatch(r"-?[0-9]+", t) is not None and t == str(int(t))
                    for t in tokens)
    assert (values is not None) == canonical
    if values is not None:
        assert values.tolist() == [int(t) for t in tokens]


@given(st.lists(st.datetimes(datetime.datetime(1900, 1, 1), datetime.datetime(2200, 1, 1)),
                min_size=1, max_size=20), st.booleans())
@settings(max_examples=30)
def test_parse_datetime_matches_the_datetime_module(moments, zulu):
    moments = [m.replace(microsecond=m.microsecond // 1000 * 1000) for m in moments]
    tokens = [m.isoformat(timespec="milliseconds") + ("Z" if zulu else "") for m in moments]
    seconds = parse_datetime(column_of(tokens, "time"))
    epoch = datetime.datetime(1970, 1, 1)
    expected = [(m - epoch) // datetime.timedelta(milliseconds=1) / 1000 for m in moments]
    assert np.allclose(seconds, expected, rtol=0, atol=1e-6)


@given(st.lists(st.lists(st.integers(0, 999), min_size=0, max_size=6), min_size=1,
                max_size=25), st.integers(8, 64))
def test_ragged_tokens_over_any_block_size(rows, size):
    data = "".join(" ".join(map(str, r)) + "\n" for r in rows).encode()
    counts, values = [], []
    for buf, line in blocks(data, 0, 1, size=size):
        tokens = split_tokens(buf, line, b" ", "s.txt", "item")
        counts.append(tokens.counts)
        values.append(parse_int(tokens.column))
    assert np.concatenate(counts).tolist() == [len(r) for r in rows]
    assert np.concatenate(values).tolist() == [x for r in rows for x in r]
