"""The compiled numeric-field parser against its NumPy twin and against Python's int/float."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.data import read_interactions
from nprec.kernels.parsing import (
    _POW10,
    _parse_numeric,
    parse_numeric_fields,
    parse_numeric_fields_ref,
)

plain_ints = st.integers(-10 ** 17, 10 ** 17).map(str)
plain_decimals = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.4f}"),
    st.integers(0, 10 ** 9).map(lambda x: f"{x}.5"),
    st.sampled_from(["0", "-0", ".5", "5.", "+3.25", "4.0", "1396860669.277"]))
odd = st.sampled_from(["", " 1", "1 ", "007", "+4", "1e5", "nan", "-", "1.2.3", "a",
                       "12345678901234567890", "1234567890123456.5", "\t"])


@st.composite
def texts(draw):
    kinds = draw(st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=4))
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            lines.append("")                                            # blank line
            continue
        fields = []
        for kind in kinds:
            plain = plain_ints if kind == 1 else plain_decimals if kind == 2 else st.text(
                "abc,.-", max_size=3)
            fields.append(draw(st.one_of(plain, odd) if draw(st.integers(0, 7)) == 0
                               else plain))
        if draw(st.integers(0, 15)) == 0:                               # wrong field count
            fields = fields[:-1] if len(fields) > 1 else fields + ["9"]
        lines.append(",".join(fields))
    data = ("\n".join(lines) + "\n").encode()
    return np.frombuffer(data, dtype=np.uint8), np.array(kinds), lines


def same(a, b) -> None:
    assert a[3] == b[3]
    for x, y in zip(a[:3], b[:3], strict=True):
        assert x.shape == y.shape and np.array_equal(x, y)


@given(texts())
def test_kernel_matches_its_numpy_twin(case):
    buf, kinds, lines = case
    fast = parse_numeric_fields(buf, ord(","), kinds)
    same(fast, parse_numeric_fields_ref(buf, ord(","), kinds))
    ints, floats, index, bad = fast
    if bad >= 0:
        return
    rows = [lines[i].split(",") for i in index]
    assert index.tolist() == [i for i, line in enumerate(lines) if line]
    for f, kind in enumerate(kinds):
        if kind == 1:
            assert ints[:, f].tolist() == [int(r[f]) for r in rows]
        elif kind == 2:
            assert floats[:, f].tolist() == [float(r[f]) for r in rows]


@given(texts())
def test_the_python_body_of_the_kernel_agrees(case):
    buf, kinds, _ = case                # what NUMBA_DISABLE_JIT=1 would run
    n = int((buf == 0x0A).sum())
    out = [np.zeros((n, kinds.size), np.int64), np.zeros((n, kinds.size)),
           np.zeros(n, np.int64)]
    python_body = getattr(_parse_numeric, "py_func", _parse_numeric)   # without Numba
    rows, bad = python_body(buf, ord(","), kinds, *out, _POW10)
    ref = parse_numeric_fields_ref(buf, ord(","), kinds)
    assert bad == ref[3]
    if bad < 0:
        same((out[0][:rows], out[1][:rows], out[2][:rows], -1), ref)


def test_first_line_that_is_not_plain():
    text = b"1,2.5\n\n3,4\n5,1e5\n6,x\n"
    buf = np.frombuffer(text, dtype=np.uint8)
    for parse in (parse_numeric_fields, parse_numeric_fields_ref):
        assert parse(buf, ord(","), np.array([1, 2]))[3] == 3             # 0-based line
        ints, floats, index, bad = parse(buf[:11], ord(","), np.array([1, 2]))
        assert bad == -1 and ints[:, 0].tolist() == [1, 3] and floats[:, 1].tolist() == [2.5, 4]
        assert index.tolist() == [0, 2]
    with pytest.raises(ValueError, match="ending with"):
        parse_numeric_fields(buf[:-1], ord(","), np.array([1, 2]))


def test_minus_zero_is_not_the_id_zero(tmp_path):
    # Read as integers, '-0' and '0' would be one id: neither engine takes '-0' as plain, and
    # the reader keeps the column's ids as strings (found by the deep hypothesis profile).
    buf = np.frombuffer(b"0,1\n-0,2\n", dtype=np.uint8)
    for parse in (parse_numeric_fields, parse_numeric_fields_ref):
        assert parse(buf, ord(","), np.array([1, 1]))[3] == 1
    path = tmp_path / "minus_zero.csv"
    path.write_text("user,item\n0,1\n-0,2\n1,1\n")
    data, _ = read_interactions(path, "csv")
    assert sorted(data.user_ids.tolist()) == ["-0", "0", "1"]
