"""Download the MovieLens archives from GroupLens into a cache, checked by SHA-256.

The archive is streamed to a temporary file in the cache directory and renamed to its
final name only after its size and SHA-256 match, so the cache never holds a partial or
corrupt file. The checksums are the ones TensorFlow Datasets pins for the same URLs
(tensorflow/datasets: tensorflow_datasets/url_checksums/movielens.txt), which agree in
size with the GroupLens listings; GroupLens' own `.md5` files are recorded beside them.
`read_interactions(download("ml-1m"))` reads the archive's ratings file directly.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nprec.data.files import PathLike, sha256_file
from nprec.errors import DataError


@dataclass(frozen=True)
class Archive:
    url: str
    size: int
    sha256: str
    md5: str


ARCHIVES = {
    "ml-100k": Archive("https://files.grouplens.org/datasets/movielens/ml-100k.zip", 4924029,
                       "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                       "0e33842e24a9c977be4e0107933c0723"),
    "ml-1m": Archive("https://files.grouplens.org/datasets/movielens/ml-1m.zip", 5917549,
                     "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                     "c4d9eecfca2ab87c1945afe126590906"),
    "ml-20m": Archive("https://files.grouplens.org/datasets/movielens/ml-20m.zip", 198702078,
                      "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                      "cd245b17a1ae2cc31bb14903e1204af3"),
}


def cache_dir(path: PathLike | None = None) -> Path:
    """The cache directory: `path`, else $NPREC_CACHE, else ~/.cache/nprec."""
    if path is not None:
        return Path(path)
    env = os.environ.get("NPREC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "nprec"


def download(name: str, cache: PathLike | None = None, *, force: bool = False,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Download a MovieLens archive (ml-100k, ml-1m, ml-20m) once and return its path.

    Args:
        name: the data set.
        cache: the cache directory (default $NPREC_CACHE or ~/.cache/nprec).
        force: download again even if a verified copy is cached.
        progress: show a progress bar on stderr.
        timeout: seconds to wait for the server.
    Raises:
        DataError: unknown name, no connection ("download it manually and pass --data
            PATH"), or a file whose size or SHA-256 does not match.
    """
    if name not in ARCHIVES:
        raise DataError(f"unknown data set {name!r}; downloadable: {', '.join(ARCHIVES)}")
    archive = ARCHIVES[name]
    folder = cache_dir(cache)
    target = folder / f"{name}.zip"
    if target.exists() and not force:
        if sha256_file(target) == archive.sha256:
            return target
        raise DataError(f"{target}: the cached file does not match {name}'s SHA-256; delete "
                        f"it to download it again (or pass force=True in Python)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".part")
    except OSError as e:
        raise DataError(f"{folder}: cannot write the download cache ({e.strerror or e})") \
            from None
    tmp = Path(tmp_name)
    try:
        digest = _fetch(archive, name, fd, progress, timeout)
        size = tmp.stat().st_size
        if size != archive.size or digest != archive.sha256:
            raise DataError(f"downloaded {name} from {archive.url} has {size:,} bytes and "
                            f"SHA-256 {digest}; expected {archive.size:,} bytes and "
                            f"{archive.sha256}: not the official file, so it was discarded")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _fetch(archive: Archive, name: str, fd: int, progress: bool, timeout: float) -> str:
    """Stream the URL into the open file `fd`; returns the SHA-256 of what was written."""
    from tqdm import tqdm

    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(archive.url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or archive.size)
            with tqdm(total=total, unit="B", unit_scale=True, desc=name,
                      disable=not progress) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (OSError, ValueError) as e:          # URLError, timeouts, resets are OSErrors
        reason = getattr(e, "reason", None) or e
        raise DataError(f"cannot download {name} from {archive.url}: {reason}; download it "
                        f"manually and pass --data PATH") from None
    return digest.hexdigest()
