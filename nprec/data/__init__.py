"""Data: containers, readers, preprocessing, splits, statistics, downloads and synthetic data.

A typical run:

    train, info = read_interactions("ml-1m.loo.train.tsv.gz")          # format detected
    test, _ = read_interactions("ml-1m.loo.test.tsv.gz", users=train.users,
                                items=train.items, unknown="extend")
    train = extend_items(train, test.item_ids)                         # one item space
    split = leave_one_out(train, test=test)          # validation = last train item per user

    sessions, _ = read_sessions("yoochoose-clicks.dat")
    sessions, record = filter_sessions(sessions, min_length=2, min_support=5)
    split = session_time_split(sessions, days=1)                       # GRU4Rec's protocol

Every reader and step returns a JSON-ready record for the results file.
"""

from nprec.data.containers import IdMap, Interactions, Sessions
from nprec.data.downloads import ARCHIVES, cache_dir, download
from nprec.data.formats import FORMATS, Format, detect_format
from nprec.data.preprocess import (
    binarize,
    compact,
    dedupe_consecutive,
    extend_items,
    filter_sessions,
    k_core,
)
from nprec.data.readers import NcfNegatives, read_interactions, read_ncf_negatives
from nprec.data.session_readers import read_sessions
from nprec.data.session_splits import session_time_split
from nprec.data.splits import Split, leave_one_out, ratio_split, time_split
from nprec.data.stats import describe, describe_file, format_description
from nprec.data.strong import StrongSplit, strong_generalization
from nprec.data.synthetic import synthetic_interactions, synthetic_sessions
from nprec.data.writers import write_atomic

__all__ = [
    "ARCHIVES", "FORMATS", "Format", "IdMap", "Interactions", "NcfNegatives", "Sessions",
    "Split", "StrongSplit", "binarize", "cache_dir", "compact", "dedupe_consecutive",
    "describe", "describe_file", "detect_format", "download", "extend_items", "filter_sessions",
    "format_description", "k_core", "leave_one_out", "ratio_split", "read_interactions",
    "read_ncf_negatives", "read_sessions", "session_time_split", "strong_generalization",
    "synthetic_interactions", "synthetic_sessions", "time_split", "write_atomic",
]
