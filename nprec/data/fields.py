"""Vectorised splitting of delimited text into fields: the reader's engine, no loop per line.

The text is cut into blocks of whole lines (`BLOCK_BYTES` each, so temporaries stay small);
inside a block every step is one NumPy operation over all lines at once. The positions of
all delimiters (separators and newlines) come from one comparison over the bytes. A block
whose lines all have F fields has exactly F delimiters per line, every F-th one a newline:
reshaped to (n, F) they are the field ends, and each field starts one byte after the
previous delimiter. A line that breaks the rule is found as the first True of a mask and
reported with its 1-based line number (`ratings.dat:17: expected 4 fields ...`).
`nprec.data.numbers` turns the fields into numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nprec.errors import DataError

BLOCK_BYTES = 1 << 24                                    # 16 MiB of text per block


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
