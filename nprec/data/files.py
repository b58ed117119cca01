"""Open a data file: plain, gzip, bzip2, xz or zip, always as one `bytes` object.

Compression is recognised by the file's first bytes (its magic number), so a `.gz` file
that is really plain text, or a compressed file without a suffix, is still read right.
Every failure (missing file, no permission, a directory, truncated or corrupt compressed
data, an empty file, binary content) is a one-line `DataError` naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from nprec.errors import DataError

PathLike = str | os.PathLike

# A zip archive starts with its first member's local header, or, with no member at all, with
# the end-of-central-directory record.
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip",
          b"PK\x05\x06": "zip"}
_SUFFIX = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}

# Members of a MovieLens archive that hold the ratings: `read_interactions(ml-1m.zip)` picks
# this one without being told, so the file `download` returns can be read directly.
RATINGS_MEMBERS = ("u.data", "ratings.dat", "ratings.csv")


@dataclass(frozen=True)
class Text:
    """The decompressed bytes of a data file.

    Attributes:
        data: the whole text (line ends normalised to b"\\n").
        name: the file's name for messages, `archive.zip:member` for a zip member.
        inner_name: the base name of the text itself, compression suffix removed
            (`ratings.dat` for `ml-1m.zip:ml-1m/ratings.dat` or `ratings.dat.gz`); format
            detection looks at it.
    """

    data: bytes
    name: str
    inner_name: str

    def first_line(self) -> str:
        """The first non-blank line, decoded leniently (for format detection and headers)."""
        for line in self.data[:65536].split(b"\n"):
            if line.strip():
                return line.decode("utf-8", "replace")
        return ""


def _strip_suffix(name: str) -> str:
    base = os.path.basename(name)
    root, ext = os.path.splitext(base)
    return root if ext.lower() in _SUFFIX else base


def _compression(raw: bytes) -> str | None:
    for magic, kind in _MAGIC.items():
        if raw.startswith(magic):
            return kind
    return None


def split_member(name: str) -> tuple[str, str | None]:
    """(archive, member) of `archive.zip:member`, the command line's way to name a member
    (`member=` in Python); a name that exists as a file as it is is never split."""
    archive, colon, inner = name.rpartition(":")
    if colon and inner and not os.path.exists(name) and os.path.isfile(archive):
        return archive, inner
    return name, None


def sha256_file(path: PathLike) -> str:
    """The SHA-256 hex digest of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pick_member(archive: zipfile.ZipFile, member: str | None, name: str) -> str:
    """The member to read: the one named, else the only data file, else a ratings file."""
    names = [n for n in archive.namelist() if not n.endswith("/")
             and not n.startswith("__MACOSX/") and not os.path.basename(n).startswith(".")]
    if not names:
        raise DataError(f"{name}: the archive holds no data file" + (
            " (only folders, hidden files or __MACOSX entries)" if archive.namelist()
            else " (it is empty)"))
    if member is not None:
        if member in names:
            return member
        matches = [n for n in names if os.path.basename(n) == member]
        if len(matches) == 1:
            return matches[0]
        raise DataError(f"{name}: no member {member!r} in the archive "
                        f"(members: {', '.join(names[:10])})")
    if len(names) == 1:
        return names[0]
    ratings = [n for n in names if os.path.basename(n) in RATINGS_MEMBERS]
    if len(ratings) == 1:
        return ratings[0]
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise DataError(f"{name}: the archive holds {len(names)} files ({shown}); name the one to "
                    f"read as {name}:MEMBER, e.g. {name}:{names[0]} (member= in Python)")


def _read_member(archive: zipfile.ZipFile, member: str, name: str) -> bytes:
    """The bytes of a member; encrypted members and unknown compression are DataErrors.

    zipfile would raise RuntimeError (password required) or NotImplementedError (e.g.
    method 99, WinZip's AES encryption) for them: not a bug in nprec, an archive it cannot
    open.
    """
    info = archive.getinfo(member)
    if info.flag_bits & 0x1:                                 # bit 0: the member is encrypted
        raise DataError(f"{name}: {member} is encrypted (password-protected); extract it "
                        f"with its password and give the extracted file")
    try:
        return archive.read(info)
    except NotImplementedError:
        raise DataError(f"{name}: {member} is compressed with zip method "
                        f"{info.compress_type}, which cannot be read here (99 = AES "
                        f"encryption); extract it, or re-pack it with deflate") from None


def _decompress(raw: bytes, kind: str, name: str) -> bytes:
    try:
        if kind == "gzip":
            return gzip.decompress(raw)
        if kind == "bzip2":
            return bz2.decompress(raw)
        return lzma.decompress(raw)
    except EOFError:
        raise DataError(f"{name}: the {kind} data is truncated (the file ends before the "
                        f"end of its compressed stream)") from None
    except (OSError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise DataError(f"{name}: corrupt {kind} data ({e})") from None


def load_text(path: PathLike | Text, member: str | None = None) -> Text:
    """Read a whole data file, decompressing it if needed.

    Args:
        path: the file; gzip, bzip2, xz and zip are recognised by their first bytes.
        member: for a zip archive, the member to read (a path inside the archive or a base
            name; `path` may also be written `archive.zip:member`). Without it the archive's
            only data file is read, or the ratings file of a MovieLens archive (`u.data`,
            `ratings.dat`, `ratings.csv`).
    Returns:
        a `Text` with the bytes, the name for messages and the inner base name (a `Text`
        given as `path` is returned as it is, so a file loaded once can be handed on).
    Raises:
        DataError: missing, unreadable, empty, truncated, corrupt or binary files.
    """
    if isinstance(path, Text):
        return path
    name = os.fspath(path)
    if member is None:
        name, member = split_member(name)
    p = Path(name)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not a data file") from None
    except PermissionError:
        raise DataError(f"{name}: cannot read the file (permission denied)") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read the file ({e.strerror or e})") from None
    if not raw:
        raise DataError(f"{name}: the file is empty")
    kind = _compression(raw)
    suffix_kind = _SUFFIX.get(p.suffix.lower())
    if suffix_kind is not None and kind != suffix_kind:
        raise DataError(f"{name}: not a {suffix_kind} file (its first bytes do not match)")
    if member is not None and kind != "zip":
        raise DataError(f"{name}: member {member!r} named, but the file is not a zip archive")
    inner = _strip_suffix(name)
    if kind == "zip":
        try:
            with zipfile.ZipFile(p) as archive:
                chosen = _pick_member(archive, member, name)
                data = _read_member(archive, chosen, name)
        except zipfile.BadZipFile as e:
            raise DataError(f"{name}: corrupt zip archive ({e})") from None
        except (EOFError, zlib.error, lzma.LZMAError, OSError) as e:
            raise DataError(f"{name}: corrupt or truncated zip archive ({e})") from None
        name = f"{name}:{chosen}"
        inner = _strip_suffix(chosen)
    elif kind is not None:
        data = _decompress(raw, kind, name)
    else:
        data = raw
    return Text(_check_text(data, name), name, inner)


def _check_text(data: bytes, name: str) -> bytes:
    """Reject empty and binary content; normalise Windows line ends."""
    if not data or data.isspace():
        raise DataError(f"{name}: the file is empty")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DataError(f"{name}:{line}: binary data (a NUL byte), not a text file")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    return data
