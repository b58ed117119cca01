"""Numeric field parsing: one compiled pass over the bytes of delimited text.

The data readers cut text into blocks of whole lines. A block whose lines all hold F plain
fields (canonical integers, plain decimals) is parsed here in a single loop over its bytes;
any other block (a wrong field count, a string id, `1e5`, a date, a blank inside a field)
is reported as not plain, at its first such line, and the reader parses it with the
vectorised NumPy engine (`nprec.data.fields`, `nprec.data.numbers`), which also words the
error messages.
`parse_numeric_fields_ref` is the NumPy twin with the same contract.

Plain fields, by kind: 1 = integer: an optional '-', then 1 to 18 digits without a leading
zero (`0` itself is fine, `-0` is not); 2 = decimal: an optional sign, 1 to 15 digits with
at most one '.'; 0 = skipped: anything but a separator. Decimals are exact: the digits form an exact
int64 mantissa m, and the value is m / 10^f (f digits after the dot), one correctly
rounded division, the same float64 that Python's float() gives.
"""

from __future__ import annotations

import numpy as np

from nprec.kernels._jit import jit

_POW10 = 10.0 ** np.arange(19)
SKIP, INTEGER, DECIMAL = 0, 1, 2


def _check(buf: np.ndarray, sep: int, kinds: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    buf = np.ascontiguousarray(buf, dtype=np.uint8)
    kinds = np.asarray(kinds, dtype=np.int64)
    if buf.ndim != 1 or (buf.size and buf[-1] != 0x0A):
        raise ValueError("parse_numeric_fields: buf must be 1-d uint8 text ending with b'\\n'")
    if not 0 <= sep < 256 or sep == 0x0A or kinds.ndim != 1 or kinds.size < 1:
        raise ValueError("parse_numeric_fields: bad separator or kinds")
    return buf, int(sep), kinds


def parse_numeric_fields_ref(buf: np.ndarray, sep: int, kinds: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Parse every non-blank line into len(kinds) plain fields (NumPy reference twin).

    Args:
        buf: (nbytes,) uint8 text ending with a newline.
        sep: the separator byte.
        kinds: (F,) per field: 0 skip, 1 integer, 2 decimal.
    Returns:
        ints (n, F) int64 (integer fields, 0 elsewhere), floats (n, F) float64 (decimal
        fields, 0 elsewhere), lines (n,) 0-based line index of each row, and `bad`: -1 if
        every line is plain, else the index of the first line that is not (the arrays are
        then empty).
    """
    # The twin is the data readers' own vectorised engine (imported here, not at module
    # level, because nprec.data imports this module).
    from nprec.data.fields import Column, count_per_line
    from nprec.data.numbers import decimal_values, integer_values

    buf, sep, kinds = _check(buf, sep, kinds)
    F = kinds.size
    empty = (np.zeros((0, F), np.int64), np.zeros((0, F)), np.zeros(0, np.int64))
    nl = np.flatnonzero(buf == 0x0A)                                    # (L,)
    line_start = np.concatenate([[0], nl[:-1] + 1])                     # (L,)
    blank = nl == line_start
    wrong = ~blank & (count_per_line(buf, sep) != F - 1)                # (L,)
    first_wrong = int(np.argmax(wrong)) if wrong.any() else nl.size
    kept = np.flatnonzero(~blank[:first_wrong])                         # (n,) lines before
    head = buf[:line_start[first_wrong] if first_wrong < nl.size else buf.size]
    delims = np.flatnonzero((head == sep) | (head == 0x0A))             # (n F + blanks,)
    keep_delim = np.ones(delims.size, dtype=bool)
    keep_delim[np.isin(delims, nl[blank])] = False
    ends = delims[keep_delim].reshape(kept.size, F)                     # (n, F)
    starts = np.empty_like(ends)
    starts[:, 0] = line_start[kept]
    starts[:, 1:] = ends[:, :-1] + 1
    ints = np.zeros((kept.size, F), dtype=np.int64)
    floats = np.zeros((kept.size, F))
    plain = np.ones(kept.size, dtype=bool)                              # (n,)
    for f in range(F):
        col = Column(buf, starts[:, f], ends[:, f], kept, "", "")
        if kinds[f] == INTEGER:
            values, _, canonical = integer_values(col)
            ints[:, f] = values
            plain &= canonical
        elif kinds[f] == DECIMAL:
            values, ok = decimal_values(col)
            floats[:, f] = values
            plain &= ok
    bad = kept[int(np.argmax(~plain))] if not plain.all() else first_wrong
    if bad < nl.size:
        return (*empty, int(bad))
    return ints, floats, kept.astype(np.int64), -1


def parse_numeric_fields(buf: np.ndarray, sep: int, kinds: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Parse every non-blank line into len(kinds) plain fields in one compiled pass.

    Same contract as `parse_numeric_fields_ref`.
    """
    buf, sep, kinds = _check(buf, sep, kinds)
    n_lines = int(np.count_nonzero(buf == 0x0A))
    ints = np.zeros((n_lines, kinds.size), dtype=np.int64)
    floats = np.zeros((n_lines, kinds.size))
    lines = np.zeros(n_lines, dtype=np.int64)
    n, bad = _parse_numeric(buf, sep, kinds, ints, floats, lines, _POW10)
    if bad >= 0:
        return ints[:0], floats[:0], lines[:0], int(bad)
    return ints[:n], floats[:n], lines[:n], -1


@jit()
def _parse_numeric(buf, sep, kinds, ints, floats, lines, pow10):
    # Serial: each line's fields start where the previous line ended.
    F = kinds.size
    pos, line, row = 0, 0, 0
    while pos < buf.size:
        if buf[pos] == 0x0A:                                            # blank line
            pos += 1
            line += 1
            continue
        for f in range(F):
            end = sep if f < F - 1 else 0x0A
            kind = kinds[f]
            negative = False
            signed = False
            if kind != 0 and (buf[pos] == 0x2D or (kind == 2 and buf[pos] == 0x2B)):
                negative = buf[pos] == 0x2D
                signed = True
                pos += 1
            value, digits, dot, lead = 0, 0, -1, 0
            while True:
                c = np.int64(buf[pos])              # int64 arithmetic, also without JIT
                if c == end:
                    break
                if c == 0x0A or c == sep:                               # wrong field count
                    return row, line
                pos += 1
                if kind == 0:
                    continue
                if 0x30 <= c <= 0x39:
                    if digits == 18:                    # a 19th digit could overflow int64
                        return row, line
                    if digits == 0:
                        lead = c
                    value = value * 10 + (c - 0x30)
                    digits += 1
                elif c == 0x2E and kind == 2 and dot < 0:
                    dot = digits
                else:
                    return row, line
            pos += 1                                                    # past the delimiter
            if kind == 1:
                if digits == 0 or (digits > 1 and lead == 0x30) or (signed and not negative) \
                        or (negative and value == 0):                   # '-0' is not 0's id
                    return row, line
                ints[row, f] = -value if negative else value
            elif kind == 2:
                if digits == 0 or digits > 15:
                    return row, line
                x = float(value) if dot < 0 else value / pow10[digits - dot]
                floats[row, f] = -x if negative else x
        lines[row] = line
        row += 1
        line += 1
    return row, -1
