"""`fails`: the check the data-reader tests share (a one-line DataError naming the file)."""

from __future__ import annotations

import pytest

from nprec.data import read_interactions
from nprec.errors import DataError


def fails(path, pattern: str, reader=read_interactions, **kwargs) -> str:
    """Read and expect a one-line DataError that starts with the file name."""
    with pytest.raises(DataError) as err:
        reader(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert pattern in message, message
    return message
