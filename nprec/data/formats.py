"""The file formats nprec reads, how each is recognised, and how its columns are laid out.

A format is detected from the file's inner name (compression suffix removed) and, failing
that, from its first non-blank line. `FORMATS` lists every name `format=` accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nprec.data.files import PathLike, Text, load_text
from nprec.errors import DataError


@dataclass(frozen=True)
class Format:
    """A named file format: `kind` is 'interactions', 'sessions' or 'negatives'."""

    name: str
    kind: str
    description: str


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("ml-100k", "interactions", "MovieLens 100K u.data: user TAB item TAB rating TAB "
           "timestamp, no header (also u1.base etc.)"),
    Format("ml-1m", "interactions", "MovieLens 1M/10M ratings.dat: user::item::rating::"
           "timestamp"),
    Format("ml-20m", "interactions", "MovieLens 20M/25M/latest ratings.csv with header "
           "userId,movieId,rating,timestamp"),
    Format("ncf", "interactions", "NCF .train.rating/.test.rating: user TAB item TAB rating "
           "TAB timestamp, 0-based ids"),
    Format("csv", "interactions", "delimited text with named columns (header) or a column "
           "mapping; separator sniffed or given (also sessions: SessionId/ItemId/Time)"),
    Format("atomic", "interactions", "RecBole atomic file (.inter): TAB-separated, header "
           "fields name:type (user_id:token item_id:token rating:float timestamp:float)"),
    Format("yoochoose", "sessions", "RecSys Challenge 2015 yoochoose-clicks.dat: "
           "SessionId,Timestamp(ISO-8601),ItemId,Category"),
    Format("diginetica", "sessions", "CIKM Cup 2016 train-item-views.csv: "
           "sessionId;userId;itemId;timeframe;eventdate"),
    Format("gru4rec", "sessions", "GRU4Rec event file: SessionId TAB ItemId TAB Time with "
           "header"),
    Format("srgnn", "sessions", "SR-GNN sessions: one session per line, space-separated item "
           "ids, line order = time order"),
    Format("srgnn-test", "sessions", "SR-GNN test samples: prefix TAB label, each session's "
           "samples on consecutive lines, longest prefix first"),
    Format("ncf-negative", "negatives", "NCF .test.negative: (user,item) TAB n1 TAB ... nS"),
]}

# Where a user names the format: messages say it for the command line and for Python.
FORMAT_OPTIONS = "--set data.format=NAME for train, --format NAME for data info, format= in Python"

# What to do with a file of another kind than the reader's: on the command line, in Python.
_USE_INSTEAD = {
    "sessions": ("train a session model on the file (e.g. gru4rec, narm)", "read_sessions"),
    "interactions": ("train a user-item model on the file (e.g. mf, ease, multvae)",
                     "read_interactions"),
    "negatives": ("give the file as --set data.negatives_file=FILE (protocol ncf-loo99)",
                  "read_ncf_negatives"),
}
_NOUNS = {"negatives": "NCF test negatives", "interactions": "user-item interactions",
          "sessions": "sessions"}


def wrong_kind(name: str, holds: str, wanted: str, fmt: str | None = None,
               why: str = "") -> DataError:
    """The error for a file holding `holds` ('sessions', ...) given to a reader of `wanted`:
    `fmt` files hold ..., or (no fmt) the file holds ... `why`."""
    subject, pronoun = (f"{fmt} files hold", "them") if fmt else ("the file holds", "it")
    cli, reader = _USE_INSTEAD[holds]
    return DataError(f"{name}: {subject} {_NOUNS[holds]}{why}, not {_NOUNS[wanted]}: {cli}, "
                     f"or read {pronoun} with {reader} in Python")


def no_column(name: str, role: str, header: str) -> DataError:
    """The error for a header without a column of `role` ('user', 'item', 'session')."""
    return DataError(f"{name}: no {role} column in the header {header[:60]!r} (names read as "
                     f"the {role}: {', '.join(ROLE_NAMES[role])}); rename the column, or "
                     f"pass columns={{...}} in Python")


# Header names recognised for each role (compared lower-case, without '_' and ':type').
ROLE_NAMES = {
    "user": ("userid", "user", "uid", "users"),
    "item": ("itemid", "item", "iid", "movieid", "movie", "items"),
    "rating": ("rating", "ratings", "score"),
    "time": ("timestamp", "time", "ts", "datetime"),
    "session": ("sessionid", "session", "sessions"),
}

_SEPARATORS = {"\t": "tabs", ",": "commas", ";": "semicolons", " ": "spaces", "::": "'::'",
               "|": "'|'"}


def sep_label(sep: str) -> str:
    return _SEPARATORS.get(sep, repr(sep))


def _role_of(name: str) -> str | None:
    key = name.split(":")[0].strip().strip('"').lower().replace("_", "").replace(" ", "")
    for role, names in ROLE_NAMES.items():
        if key in names:
            return role
    return None


def _by_name(inner: str) -> str | None:
    low = inner.lower()
    if low == "u.data" or re.fullmatch(r"u[a-z0-9]*\.(base|test)", low):
        return "ml-100k"
    if low == "ratings.dat":
        return "ml-1m"
    if low.endswith(".inter"):
        return "atomic"
    if low.startswith("yoochoose-clicks") and low.endswith(".dat"):
        return "yoochoose"
    if "train-item-views" in low:
        return "diginetica"
    if low.endswith(".test.negative"):
        return "ncf-negative"
    if low.endswith(".rating"):
        return "ncf"
    return None


_CONTENT = [
    (r"\(\s*\d+\s*,\s*\d+\s*\)\t.*", "ncf-negative"),
    (r"\d+::\d+::[\d.]+::\d+", "ml-1m"),
    (r"[^,]+,\d{4}-\d\d-\d\dT[\d:.]+Z?,[^,]+,[^,]*", "yoochoose"),
    (r"\d+\t\d+\t[\d.]+\t\d+", "ml-100k"),
    (r"\d+( \d+)*\t\d+", "srgnn-test"),
    (r"\d+( \d+)*", "srgnn"),
]


def _by_content(line: str) -> str | None:
    fields = [f.strip() for f in re.split(r"[\t,;]", line)]
    keys = [f.split(":")[0].lower().replace("_", "") for f in fields]
    if len(fields) >= 2 and all(re.fullmatch(r"\w+:(token|float|token_seq|float_seq)", f)
                                for f in fields):
        return "atomic"
    if keys == ["sessionid", "userid", "itemid", "timeframe", "eventdate"]:
        return "diginetica"
    if keys[:3] == ["sessionid", "timestamp", "itemid"]:
        return "yoochoose"
    if keys == ["userid", "movieid", "rating", "timestamp"] and "," in line:
        return "ml-20m"
    if sum(_role_of(f) is not None for f in fields) >= 2:
        return "gru4rec" if "sessionid" in keys and "userid" not in keys else "csv"
    for pattern, name in _CONTENT:
        if re.fullmatch(pattern, line.strip()):
            return name
    return None


def detect(text: Text) -> str:
    """The format name of a loaded file (by its inner name, else by its first line)."""
    name = _by_name(text.inner_name) or _by_content(text.first_line())
    if name is None:
        raise DataError(f"{text.name}: cannot tell the file's format from its name or first "
                        f"line {text.first_line()[:60]!r}; name it ({FORMAT_OPTIONS}): one "
                        f"of {', '.join(FORMATS)}")
    return name


def detect_format(path: PathLike, member: str | None = None) -> Format:
    """The `Format` of a file, detected as the readers do with `format="auto"`."""
    return FORMATS[detect(load_text(path, member))]


def check_format(name: str, text: Text) -> str:
    """Resolve `format="auto"` or validate a named format."""
    if name == "auto":
        return detect(text)
    if name not in FORMATS:
        raise DataError(f"{text.name}: unknown format {name!r}; formats: {', '.join(FORMATS)}")
    return name


@dataclass(frozen=True)
class Layout:
    """How a delimited file's columns are laid out.

    Attributes:
        sep: the separator (may be several bytes, e.g. '::').
        n_fields: fields per line.  header: whether the first non-blank line is a header.
        columns: role ('user', 'item', 'rating', 'time', 'session', ...) -> 0-based field.
        integer_ids: ids must be integers (MovieLens, NCF); otherwise int64 if all ids are
            integers, else strings.
    """

    sep: str
    n_fields: int
    header: bool
    columns: dict
    integer_ids: bool


_FIXED = {
    "ml-100k": Layout("\t", 4, False, {"user": 0, "item": 1, "rating": 2, "time": 3}, True),
    "ncf": Layout("\t", 4, False, {"user": 0, "item": 1, "rating": 2, "time": 3}, True),
    "ml-1m": Layout("::", 4, False, {"user": 0, "item": 1, "rating": 2, "time": 3}, True),
    "ml-20m": Layout(",", 4, True, {"user": 0, "item": 1, "rating": 2, "time": 3}, True),
}


def _sniff_sep(line: str) -> str:
    counts = {sep: line.count(sep) for sep in ("\t", ",", ";", "::", "|", " ")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else "\t"


def layout_for(fmt: str, text: Text, *, sep: str | None = None, header: bool | None = None,
               columns: dict | None = None) -> Layout:
    """The `Layout` of a delimited file: fixed for MovieLens/NCF, read from the header else."""
    if fmt in _FIXED and sep is None and header is None and columns is None:
        return _FIXED[fmt]
    first = text.first_line()
    if fmt == "atomic":
        sep, header = "\t", True
    elif fmt == "gru4rec":
        sep = sep or "\t"
    elif fmt == "diginetica":
        sep, header = ";", True
    sep = sep or (_FIXED[fmt].sep if fmt in _FIXED else _sniff_sep(first))
    names = [f.strip() for f in first.split(sep)]
    if header is None:
        header = any(_role_of(n) for n in names) or bool(
            columns and any(isinstance(c, str) for c in columns.values()))
    if columns is None:
        if not header:
            if fmt in _FIXED:
                columns = _FIXED[fmt].columns
            else:
                raise DataError(f"{text.name}: no header line naming the columns; add one "
                                f"(e.g. userId{sep}itemId{sep}rating{sep}timestamp, or "
                                f"SessionId{sep}ItemId{sep}Time), or pass "
                                f"columns={{'user': 0, 'item': 1, ...}} in Python")
        else:
            columns = {}
            for j, n in enumerate(names):
                role = _role_of(n)
                if role is not None and role not in columns:
                    columns[role] = j
    resolved = {}
    for role, c in columns.items():
        if isinstance(c, str):
            if not header or c not in names:
                raise DataError(f"{text.name}: no column named {c!r} in the header "
                                f"{first[:80]!r}")
            c = names.index(c)
        if not 0 <= int(c) < len(names):
            raise DataError(f"{text.name}: column {c} of {role} is outside the "
                            f"{len(names)} fields of the first line")
        resolved[role] = int(c)
    return Layout(sep, len(names), header, resolved, fmt in _FIXED)
