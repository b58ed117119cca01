"""Vectorised parsing of numbers, ids and dates from the fields of `nprec.data.fields`.

A numeric field is read from an (n, W) matrix of its bytes, right-aligned, so that the
digit in column k of every row has the power of ten W-1-k (Horner's rule over the W
columns, never a loop over rows). Decimals are exact: with at most 15 digits the mantissa
is an exact integer and the value one correctly rounded division by a power of ten, the
float64 that Python's float() gives. Tokens that are not plain decimals (`1e5`, `nan`) fall
back to NumPy's string-to-float cast. Rules are checked as masks over all rows; the first
violation is reported with its line number (`u.data:3: user id 'abc' is not an integer`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nprec.data.fields import Column

_POW10 = 10.0 ** np.arange(23)                           # exact powers of ten in float64
_MAX_DIGITS = 15                                         # exact float64 integers (< 2**53)


def _windows(buf: np.ndarray, first: np.ndarray, W: int) -> np.ndarray:
    """(n, W) the bytes buf[first : first + W] of each row (zeros outside the buffer).

    Rows are taken from a sliding-window view, so the gather copies n rows of W bytes with
    a 1-d index; the few windows that cross the buffer's ends are gathered byte by byte.
    """
    if buf.size < W:
        buf = np.concatenate([buf, np.zeros(W - buf.size, dtype=np.uint8)])
    inside = (first >= 0) & (first <= buf.size - W)                     # (n,)
    out = sliding_window_view(buf, W)[np.where(inside, first, 0)]       # (n, W)
    if not inside.all():
        rows = np.flatnonzero(~inside)
        idx = first[rows, None] + np.arange(W)                          # (r, W)
        valid = (idx >= 0) & (idx < buf.size)
        out[rows] = np.where(valid, buf[np.clip(idx, 0, buf.size - 1)], 0)
    return out


def _right_aligned(buf: np.ndarray, ends: np.ndarray, W: int) -> np.ndarray:
    """(n, W) the last W bytes before each end (zeros before the start of the buffer)."""
    return _windows(buf, ends - W, W)


def tokens_of(col: Column) -> np.ndarray:
    """(n,) the fields as a fixed-width bytes array ('S' dtype)."""
    lens = col.ends - col.starts
    W = max(int(lens.max(initial=0)), 1)
    M = _windows(col.buf, col.starts, W)                                # (n, W)
    M[np.arange(W) >= lens[:, None]] = 0
    return np.ascontiguousarray(M).view(f"S{W}").ravel()


def _split_sign(col: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signed, negative, body length) of each field: an optional leading '+' or '-'."""
    lens = col.ends - col.starts
    first = col.buf[np.minimum(col.starts, col.buf.size - 1)]
    signed = (lens > 1) & ((first == 0x2D) | (first == 0x2B))
    return signed, signed & (first == 0x2D), lens - signed


def integer_values(col: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values int64, ok, canonical): decimal integers of at most 18 digits.

    `canonical` marks the spelling an integer id must have to be read as a number: no '+',
    no leading zero, no '-0' (so `007` and `7`, or `-0` and `0`, stay two different ids).
    """
    signed, neg, dlen = _split_sign(col)
    W = int(min(dlen.max(initial=0), 18))
    ok = (dlen >= 1) & (dlen <= 18)
    values = np.zeros(col.starts.size, dtype=np.int64)
    if W == 0:
        return values, ok, ok
    M = _right_aligned(col.buf, col.ends, W) - np.uint8(0x30)           # (n, W) digits
    inside = np.arange(W) >= (W - dlen)[:, None]                        # (n, W)
    ok &= ~((M > 9) & inside).any(axis=1)
    values = _horner(np.where(inside & (M <= 9), M, 0))
    values[neg] *= -1
    lead = col.buf[np.minimum(col.starts + signed, col.buf.size - 1)]
    plus = signed & ~neg
    canonical = ok & ~plus & ~((dlen > 1) & (lead == 0x30)) & ~(neg & (values == 0))
    return values, ok, canonical


def parse_int(col: Column) -> np.ndarray:
    """(n,) int64 values of a column that must hold integers."""
    values, ok, _ = integer_values(col)
    if not ok.all():
        raise col.fail(int(np.argmax(~ok)), "is not an integer")
    return values


def parse_ids(col: Column, integers: bool) -> tuple[np.ndarray | None, Column]:
    """Raw ids of a column: (int64 values, or None if some id is not an integer; the column).

    With `integers=True` every id must be an integer. Otherwise an id counts as an integer
    only in canonical spelling, and the caller turns the column into byte strings with
    `tokens_of` when some block's ids are not all integers (see `merge_ids`).
    """
    values, ok, canonical = integer_values(col)
    if integers:
        if not ok.all():
            raise col.fail(int(np.argmax(~ok)), "is not an integer")
        return values, col
    if not (col.ends > col.starts).all():
        raise col.fail(int(np.argmax(col.ends <= col.starts)), "is empty")
    return (values if canonical.all() else None), col


def merge_ids(parts: list[tuple[np.ndarray | None, Column | None]]) -> np.ndarray:
    """Concatenate per-block ids: int64 if every block's ids are integers, else byte strings.

    A block parsed as integers holds canonical spellings only, so its byte strings are the
    integers written out again; other blocks take their fields' bytes.
    """
    if all(values is not None for values, _ in parts):
        return np.concatenate([values for values, _ in parts])
    return np.concatenate([values.astype("S") if values is not None else tokens_of(col)
                           for values, col in parts])


def _horner(digits: np.ndarray) -> np.ndarray:
    """(n,) int64 value of (n, W) decimal digits, most significant first (W <= 18)."""
    value = np.zeros(digits.shape[0], dtype=np.int64)
    for k in range(digits.shape[1]):                                    # W columns, not rows
        value = value * 10 + digits[:, k]
    return value


def decimal_values(col: Column) -> tuple[np.ndarray, np.ndarray]:
    """(values float64, ok) for plain decimals `[+-]ddd[.ddd]` of at most 15 digits.

    The dot is read as a 0 digit: A = int("12" "0" "5") = 1205 for "12.5"; with f digits
    after the dot, the mantissa is (A // 10^(f+1)) * 10^f + A mod 10^f = 125, exact in
    int64, and the value is one correctly rounded division, 125 / 10.
    """
    _, neg, blen = _split_sign(col)
    W = int(min(blen.max(initial=0), _MAX_DIGITS + 2))
    ok = (blen >= 1) & (blen <= _MAX_DIGITS + 2)
    if W == 0:
        return np.zeros(col.starts.size), ok
    M = _right_aligned(col.buf, col.ends, W)                            # (n, W)
    inside = np.arange(W) >= (W - blen)[:, None]                        # (n, W)
    d = M - np.uint8(0x30)
    is_digit = (d <= 9) & inside
    is_dot = (M == 0x2E) & inside
    ok &= ~(inside & ~(is_digit | is_dot)).any(axis=1)                      # only digits, dots
    dot_at = np.flatnonzero(is_dot)                                     # flat (row, column)
    n_dots = np.bincount(dot_at // W, minlength=M.shape[0])             # (n,)
    ok &= (n_dots <= 1) & (blen - n_dots >= 1) & (blen - n_dots <= _MAX_DIGITS)
    A = _horner(np.where(is_digit, d, 0))                               # (n,) dot read as 0
    frac_digits = np.zeros(M.shape[0], dtype=np.int64)                  # (n,)
    frac_digits[dot_at // W] = W - 1 - dot_at % W
    scale = 10 ** frac_digits                                           # (n,) int64
    mantissa = np.where(n_dots == 1, A // (scale * 10) * scale + A % scale, A)
    values = mantissa / _POW10[frac_digits]                             # (n,)
    values[neg] = -values[neg]
    return values, ok


def _first_failing_cast(tokens: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Cast 'S' tokens to float64; on failure, the index of the first bad token (bisection)."""
    try:
        return tokens.astype(np.float64), -1
    except ValueError:
        pass
    lo, hi = 0, tokens.size                    # tokens[:lo] casts, tokens[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            tokens[:mid].astype(np.float64)
            lo = mid
        except ValueError:
            hi = mid
    return None, hi - 1


def parse_float(col: Column) -> np.ndarray:
    """(n,) float64 values of a column of finite numbers."""
    values, ok = decimal_values(col)
    if not ok.all():
        rows = np.flatnonzero(~ok)
        empty = col.ends[rows] <= col.starts[rows]
        if empty.any():
            raise col.fail(int(rows[np.argmax(empty)]), "is empty")
        cast, bad = _first_failing_cast(tokens_of(Column(col.buf, col.starts[rows],
                                                         col.ends[rows], col.lines,
                                                         col.source, col.what)))
        if cast is None:
            raise col.fail(int(rows[bad]), "is not a number")
        values[rows] = cast
    finite = np.isfinite(values)
    if not finite.all():
        raise col.fail(int(np.argmax(~finite)), "is not a finite number")
    return values


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_datetime(col: Column) -> np.ndarray:
    """(n,) float64 seconds since 1970 (UTC) of `YYYY-MM-DD[Thh:mm:ss[.fff]][Z]` fields."""
    lens = col.ends - col.starts
    W = int(min(max(lens.max(initial=0), 20), 40))
    M = _windows(col.buf, col.starts, W)                                # (n, W)
    M[np.arange(W) >= lens[:, None]] = 0
    zulu = M[np.arange(M.shape[0]), np.maximum(lens - 1, 0)] == ord("Z")
    size = lens - zulu                                                  # without the Z

    def number(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        digits = M[:, a:b].astype(np.int64) - 0x30                      # (n, b - a)
        good = ((digits >= 0) & (digits <= 9)).all(axis=1)
        return digits @ (10 ** np.arange(b - a - 1, -1, -1)), good

    year, ok_y = number(0, 4)
    month, ok_m = number(5, 7)
    day, ok_d = number(8, 10)
    ok = ok_y & ok_m & ok_d & (M[:, 4] == 0x2D) & (M[:, 7] == 0x2D) & (size >= 10)
    ok &= (month >= 1) & (month <= 12) & (day >= 1)
    days = _days_from_civil(year, month, day)
    next_month = _days_from_civil(year + (month == 12), month % 12 + 1, np.ones_like(day))
    ok &= days < next_month                                             # day exists
    seconds = days * 86400.0
    timed = size > 10
    if timed.any():
        hour, ok_h = number(11, 13)
        minute, ok_mi = number(14, 16)
        sec, ok_s = number(17, 19)
        ok_t = ok_h & ok_mi & ok_s & ((M[:, 10] == ord("T")) | (M[:, 10] == 0x20))
        ok_t &= (M[:, 13] == 0x3A) & (M[:, 16] == 0x3A) & (size >= 19)
        ok_t &= (hour < 24) & (minute < 60) & (sec < 61)
        frac_rows = np.flatnonzero(timed & (size > 19))
        frac = np.zeros(lens.size)
        if frac_rows.size:
            part = Column(col.buf, col.starts[frac_rows] + 19, col.starts[frac_rows]
                          + size[frac_rows], col.lines, col.source, col.what)
            values, ok_f = decimal_values(part)
            ok_f &= M[frac_rows, 19] == 0x2E
            frac[frac_rows] = np.where(ok_f, values, 0.0)
            ok_t[frac_rows] &= ok_f
        ok &= ~timed | ok_t
        seconds += np.where(timed, hour * 3600 + minute * 60 + sec + frac, 0.0)
    ok &= (size == 10) | timed
    if not ok.all():
        raise col.fail(int(np.argmax(~ok)), "is not a date-time like 2014-04-06T20:21:58.444Z")
    return seconds
