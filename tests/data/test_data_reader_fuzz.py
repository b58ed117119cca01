"""Fuzzing the readers: whatever a file holds, it is read or refused with one DataError line.

The hand-written cases in test_data_reader_errors.py name the mistakes we thought of; here
hypothesis writes the files. Two generators: valid files of every format with a few lines
damaged (a field replaced, dropped or added, a line swapped for junk), which reach deep into
each parser, and lines assembled at random from the pieces real files are made of (ids,
numbers, dates, the separators of every format, headers, NaN, signs, junk). Every reader,
with every format and with detection, must either return consistent containers or raise a
`DataError` whose single line starts with the file's name. Any other exception would reach
a user of `nprec train` as a traceback.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nprec.data import read_interactions, read_ncf_negatives, read_sessions
from nprec.data.formats import FORMATS
from nprec.errors import DataError

# What the lines of real files are made of, and what breaks them.
PIECES = ["1", "2", "17", "0", "-3", "4.5", "1e3", "nan", "inf", "", "x", "é", "0x1",
          "978300760", "2014-04-07T10:51:09.277Z", "2016-05-09", "(3,25)", "user_id:token",
          "item_id:token", "rating:float", "timestamp:float", "userId", "movieId", "rating",
          "timestamp", "SessionId", "ItemId", "Time", "sessionId", "itemId", "timeframe",
          "eventdate", "userId"]
SEPARATORS = ["\t", ",", ";", "::", " ", "|"]

line = st.lists(st.sampled_from(PIECES), min_size=0, max_size=6).flatmap(
    lambda fields: st.sampled_from(SEPARATORS).map(lambda sep: sep.join(fields)))
random_text = st.lists(line, min_size=0, max_size=8).map("\n".join)

# One valid line per format from (user or session, item, rating, time); headers apart.
_ISO = "2014-04-{:02d}T10:51:09.277Z"
VALID = {
    "ml-100k": (None, lambda u, i, r, t: f"{u}\t{i}\t{r}\t{t}"),
    "ncf": (None, lambda u, i, r, t: f"{u}\t{i}\t{r}\t{t}"),
    "ml-1m": (None, lambda u, i, r, t: f"{u}::{i}::{r}::{t}"),
    "ml-20m": ("userId,movieId,rating,timestamp", lambda u, i, r, t: f"{u},{i},{r}.5,{t}"),
    "csv": ("user;item;rating;timestamp", lambda u, i, r, t: f"{u};{i};{r};{t}"),
    "atomic": ("user_id:token\titem_id:token\trating:float\ttimestamp:float",
               lambda u, i, r, t: f"{u}\t{i}\t{r}\t{t}"),
    "yoochoose": (None, lambda u, i, r, t: f"{u},{_ISO.format(1 + t % 28)},{i},0"),
    "diginetica": ("sessionId;userId;itemId;timeframe;eventdate",
                   lambda u, i, r, t: f"{u};;{i};{t};2016-05-{1 + t % 28:02d}"),
    "gru4rec": ("SessionId\tItemId\tTime", lambda u, i, r, t: f"{u}\t{i}\t{t}"),
    "srgnn": (None, lambda u, i, r, t: " ".join(str(i + k) for k in range(1 + u % 4))),
    "srgnn-test": (None, lambda u, i, r, t: f"{i} {i + 1}\t{i + 2}"),
    "ncf-negative": (None, lambda u, i, r, t: f"({u},{i})\t{i + 1}\t{i + 2}"),
}
SEP = {"ml-1m": "::", "ml-20m": ",", "csv": ";", "yoochoose": ",", "diginetica": ";",
       "srgnn": " "}


@st.composite
def damaged_file(draw):
    """(format, text): a valid file of the format with some lines damaged."""
    fmt = draw(st.sampled_from(sorted(VALID)))
    header, make = VALID[fmt]
    rows = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9), st.integers(1, 5),
                                   st.integers(0, 10**9)), min_size=1, max_size=8))
    lines = ([header] if header else []) + [make(*row) for row in rows]
    sep = SEP.get(fmt, "\t")
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.integers(0, len(lines) - 1))
        fields = lines[k].split(sep)
        how = draw(st.sampled_from(["replace", "drop", "add", "junk", "blank", "duplicate"]))
        j = draw(st.integers(0, len(fields) - 1))
        if how == "replace":
            fields[j] = draw(st.sampled_from(PIECES))
        elif how == "drop":
            del fields[j]
        elif how == "add":
            fields.insert(j, draw(st.sampled_from(PIECES)))
        elif how == "duplicate":
            lines.insert(k, lines[k])
        lines[k] = draw(line) if how == "junk" else "" if how == "blank" else sep.join(fields)
    return fmt, "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n", "\r\n"]))
file_name = st.sampled_from(["data.tsv", "ratings.dat", "u.data", "ratings.csv", "x.inter",
                             "clicks.dat", "train-item-views.csv", "sessions.txt",
                             "x.train.rating", "x.test.negative", "noext"])
reader_format = st.sampled_from(
    [(read_interactions, "auto"), (read_sessions, "auto"), (read_ncf_negatives, None)]
    + [(read_interactions, f) for f, v in FORMATS.items() if v.kind == "interactions"]
    + [(read_sessions, f) for f, v in FORMATS.items() if v.kind == "sessions"]
    + [(read_sessions, "csv"), (read_sessions, "atomic")])


def _read_or_refuse(path, read, fmt) -> None:
    try:
        result = read(path, **({} if fmt is None else {"format": fmt}))
    except DataError as err:
        message = str(err)
        assert "\n" not in message, message
        assert message.startswith(str(path)), message
        return
    _consistent(result)


def _reader(fmt: str):
    kind = FORMATS[fmt].kind
    return {"interactions": read_interactions, "sessions": read_sessions,
            "negatives": read_ncf_negatives}[kind], None if kind == "negatives" else fmt


FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])


def _consistent(result) -> None:
    """The container a reader returned holds arrays that agree with each other."""
    data = result[0] if isinstance(result, tuple) else result
    if hasattr(data, "indptr") and hasattr(data, "indices"):       # Interactions
        assert data.indptr[0] == 0 and data.indptr[-1] == data.indices.size
        assert np.all(np.diff(data.indptr) >= 0)
        if data.indices.size:
            assert 0 <= data.indices.min() and data.indices.max() < data.n_items
        for extra in (data.ratings, data.times):
            assert extra is None or (extra.size == data.indices.size
                                     and np.all(np.isfinite(extra)))


@FUZZ
@given(case=damaged_file(), detect=st.booleans())
def test_a_damaged_file_is_read_or_refused_in_one_line(tmp_path_factory, case, detect):
    fmt, content = case
    read, named = _reader(fmt)
    path = tmp_path_factory.mktemp("fuzz") / "data.txt"
    path.write_text(content, encoding="utf-8")
    _read_or_refuse(path, read, "auto" if detect and named else named)


@FUZZ
@given(content=random_text, name=file_name, reader=reader_format)
def test_any_file_is_read_or_refused_in_one_line(tmp_path_factory, content, name, reader):
    read, fmt = reader
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_text(content, encoding="utf-8")
    _read_or_refuse(path, read, fmt)
