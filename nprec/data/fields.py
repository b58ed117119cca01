"""Vectorised parsing of delimited text, the engine under every reader: no loop per line.

The text is cut into blocks of whole lines (`BLOCK_BYTES` each, so temporaries stay small);
inside a block every step is one NumPy operation over all lines at once:

1. The positions of all delimiters (separators and newlines) come from one comparison over
   the bytes. A block whose lines all have F fields has exactly F delimiters per line, every
   F-th one a newline: reshaped to (n, F) they are the field ends, and each field starts one
   byte after the previous delimiter.
2. A numeric field is read from an (n, W) matrix of its bytes, right-aligned, so that the
   digit in column k of every row has the power of ten W-1-k: the value is one dot product.
   Fifteen digits or fewer make every partial sum an exact float64 integer, and dividing
   by an exact power of ten rounds once, as a correct `strtod` would.
3. Rules are checked as masks over all rows; the first violation is `argmax` of the mask and
   is reported with its 1-based line number (`ratings.dat:17: ...`).
Tokens that are not plain decimals (`1e5`, `nan`) fall back to NumPy's string-to-float cast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nprec.errors import DataError

BLOCK_BYTES = 1 << 24                                    # 16 MiB of text per block
_POW10 = 10.0 ** np.arange(23)                           # exact powers of ten in float64
_MAX_DIGITS = 15                                         # exact float64 integers (< 2**53)


def blocks(data: bytes, start: int, first_line: int,
           size: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (buf, line number of its first line): uint8 views of whole lines of data[start:].

    Blocks hold about `size` bytes (default `BLOCK_BYTES`); every block ends with a newline
    (one is appended to the last block if the file lacks it).
    """
    size = size or BLOCK_BYTES
    n = len(data)
    a, line = start, first_line
    while a < n:
        b = min(a + size, n)
        if b < n:
            cut = data.rfind(b"\n", a, b)
            if cut < 0:                                  # one line longer than a block
                cut = data.find(b"\n", b)
            b = n if cut < 0 else cut + 1
        buf = np.frombuffer(data, np.uint8, count=b - a, offset=a)      # (nbytes,)
        if data[b - 1] != 0x0A:
            buf = np.append(buf, np.uint8(0x0A))
        yield buf, line
        line += data.count(b"\n", a, b)
        a = b


def header_line(data: bytes) -> tuple[str, int, int]:
    """The first non-blank line, the byte offset after it and the line number that follows."""
    pos, line = 0, 1
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        if data[pos:end].strip():
            return data[pos:end].decode("utf-8", "replace"), end + 1, line + 1
        pos, line = end + 1, line + 1
    return "", len(data), line


@dataclass
class Column:
    """One field of every row of a block: byte ranges plus what is needed to report errors.

    Attributes:
        buf: (nbytes,) uint8 text.  starts, ends: (n,) int64 byte range of the field.
        lines: (n,) int64 1-based line numbers.  source: file name.  what: e.g. "user id".
    """

    buf: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    source: str
    what: str

    def text(self, row: int) -> str:
        raw = self.buf[self.starts[row]:self.ends[row]].tobytes()
        return raw[:40].decode("utf-8", "backslashreplace") + ("..." if len(raw) > 40 else "")

    def fail(self, row: int, problem: str) -> DataError:
        return DataError(f"{self.source}:{self.lines[row]}: {self.what} {self.text(row)!r} "
                         f"{problem}")

    def trimmed(self) -> Column:
        """The column with blanks around each field removed (`1, 2` has field `2`)."""
        buf, s, e = self.buf, self.starts, self.ends
        while True:
            lead = (s < e) & (buf[s] == 0x20)
            if not lead.any():
                break
            s = s + lead
        while True:
            trail = (s < e) & (buf[e - 1] == 0x20)
            if not trail.any():
                break
            e = e - trail
        return Column(buf, s, e, self.lines, self.source, self.what)


@dataclass
class Fields:
    """The lines of one block cut into F fields: (n, F) byte ranges and line numbers."""

    buf: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    source: str
    has_blanks: bool = True

    def column(self, j: int, what: str) -> Column:
        col = Column(self.buf, self.starts[:, j], self.ends[:, j], self.lines, self.source,
                     what)
        return col.trimmed() if self.has_blanks else col


def split_fixed(buf: np.ndarray, first_line: int, sep: int, n_fields: int, source: str,
                sep_label: str) -> Fields:
    """Cut every non-blank line of a block into exactly `n_fields` fields at byte `sep`."""
    is_nl = buf == 0x0A                                                 # (nbytes,)
    is_delim = is_nl | (buf == sep)                                     # (nbytes,)
    nl = np.flatnonzero(is_nl)                                          # (L,) line ends
    line_start = np.concatenate([[0], nl[:-1] + 1])                     # (L,)
    blank = nl == line_start                                            # (L,) empty lines
    if blank.any():
        is_delim[nl[blank]] = False
    kept = np.flatnonzero(~blank)                                       # (n,) data lines
    D = np.flatnonzero(is_delim)                                        # (n F,) delimiters
    good = D.size == kept.size * n_fields
    if good:
        D = D.reshape(kept.size, n_fields)                              # (n, F)
        good = bool(is_nl[D[:, -1]].all()) and not is_nl[D[:, :-1]].any()
    if not good:
        seps = np.flatnonzero(buf == sep)                             # separator positions
        n_seps = np.bincount(np.searchsorted(nl, seps), minlength=nl.size)   # (L,)
        bad = ~blank & (n_seps + 1 != n_fields)
        i = int(np.argmax(bad))
        raise DataError(f"{source}:{first_line + i}: expected {n_fields} fields separated "
                        f"by {sep_label}, got {n_seps[i] + 1}")
    starts = np.empty_like(D)                                           # (n, F)
    starts[:, 0] = line_start[kept]
    starts[:, 1:] = D[:, :-1] + 1
    return Fields(buf, starts, D, first_line + kept, source,
                  has_blanks=bool((buf == 0x20).any()))


@dataclass
class Tokens:
    """The tokens of one block of ragged lines (lists of ids of varying length).

    Attributes:
        column: (T,) the tokens, with `column.lines` the line number of each token.
        line_of: (T,) 0-based line index (within the block) of each token.
        counts: (L,) tokens per line (0 for a blank line).  lines: (L,) line numbers.
    """

    column: Column
    line_of: np.ndarray
    counts: np.ndarray
    lines: np.ndarray


def split_tokens(buf: np.ndarray, first_line: int, delims: bytes, source: str,
                 what: str) -> Tokens:
    """Cut every line of a block into tokens at any byte of `delims` (runs count as one)."""
    is_delim = np.zeros(256, dtype=bool)
    is_delim[list(delims) + [0x0A]] = True
    D = np.flatnonzero(is_delim[buf])                                   # (T',) delimiters
    newline = buf[D] == 0x0A                                            # (T',)
    seg_start = np.concatenate([[0], D[:-1] + 1])                       # (T',)
    line_of = np.cumsum(newline) - newline                              # (T',)
    nonempty = D > seg_start
    line_of = line_of[nonempty]                                         # (T,)
    lines = first_line + np.arange(int(newline.sum()), dtype=np.int64)  # (L,)
    column = Column(buf, seg_start[nonempty], D[nonempty], lines[line_of], source, what)
    return Tokens(column, line_of, np.bincount(line_of, minlength=lines.size), lines)


def count_per_line(buf: np.ndarray, byte: int) -> np.ndarray:
    """(L,) how often `byte` occurs on each line of a block."""
    nl = np.flatnonzero(buf == 0x0A)
    return np.bincount(np.searchsorted(nl, np.flatnonzero(buf == byte)), minlength=nl.size)


# -- numbers -----------------------------------------------------------------------------------
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


def _row_any(mask: np.ndarray) -> np.ndarray:
    """(n,) whether each row of an (n, W) boolean matrix has a True (W <= 64).

    The rows are packed into bits and read as one uint64 each: no per-row reduction.
    """
    packed = np.packbits(mask, axis=1)                                  # (n, ceil(W / 8))
    if packed.shape[1] == 1:
        return packed[:, 0] != 0
    words = np.zeros((mask.shape[0], 8), dtype=np.uint8)
    words[:, :packed.shape[1]] = packed
    return words.view(np.uint64)[:, 0] != 0


def _split_sign(col: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signed, negative, body length) of each field: an optional leading '+' or '-'."""
    lens = col.ends - col.starts
    first = col.buf[np.minimum(col.starts, col.buf.size - 1)]
    signed = (lens > 1) & ((first == 0x2D) | (first == 0x2B))
    return signed, signed & (first == 0x2D), lens - signed


def integer_values(col: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values int64, ok, canonical): decimal integers of at most 18 digits.

    `canonical` marks the spelling an integer id must have to be read as a number: no '+',
    no leading zero (so `007` and `7` stay two different ids).
    """
    signed, neg, dlen = _split_sign(col)
    W = int(min(dlen.max(initial=0), 18))
    ok = (dlen >= 1) & (dlen <= 18)
    values = np.zeros(col.starts.size, dtype=np.int64)
    if W == 0:
        return values, ok, ok
    M = _right_aligned(col.buf, col.ends, W) - np.uint8(0x30)           # (n, W) digits
    inside = np.arange(W) >= (W - dlen)[:, None]                        # (n, W)
    ok &= ~_row_any((M > 9) & inside)
    values = _horner(np.where(inside & (M <= 9), M, 0))
    values[neg] *= -1
    lead = col.buf[np.minimum(col.starts + signed, col.buf.size - 1)]
    plus = signed & ~neg
    canonical = ok & ~plus & ~((dlen > 1) & (lead == 0x30))
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
    ok &= ~_row_any(inside & ~(is_digit | is_dot))                      # only digits, dots
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
