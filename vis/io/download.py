"""Fetch a file once into a cache: resumable, verified, one download for many processes.

`fetch(url, dest)` returns ``dest`` when it is there, else downloads it:

- **Through gdown** for every URL. It handles Google Drive's confirmation and quota pages (the ISTR and SOLQ
  releases live there), resumes an interrupted transfer from its ``.part`` file with an HTTP ``Range`` request
  checked against ``Content-Range`` and ``If-Range``, retries, and shows a tqdm progress bar. Ultralytics,
  torch.hub and ``mim`` each do a part of this; gdown does all of it and is maintained.
- **Nothing complete-looking is ever wrong**: the transfer lands in ``<dest>.download`` (its partial bytes in a
  ``.part`` beside it), is checked against the sha256 prefix when one is known, and only then renamed to ``dest``.
  A mismatch removes it.
- **One download for many processes**: a file lock (``<dest>.lock``, the ``filelock`` package) around the
  transfer, so ``torchrun`` ranks or two shells asking for one file wait for the first and then read its result.
- **Errors are one line** (`DownloadError`, a `VisError`): the URL, what went wrong (404, 403 or Google Drive's
  quota page, offline, a hash mismatch, a server that cannot resume) and, where the network is the problem, the
  exact path where the file can be put by hand.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from typing import Optional

from ..errors import VisError

CONNECT_TIMEOUT_S = 10.0  # an unreachable host is reported within this, well inside the 15 s a user waits
READ_TIMEOUT_S = 60.0  # a stalled transfer: kept as .part and resumed by the next call
RETRIES = 5  # a transfer cut part-way is resumed this many times within one call
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")  # mmdet / torch.hub: name-<sha256 prefix>.pth


class DownloadError(VisError):
    """A file that could not be fetched or verified; the message names the URL and what to do."""


def sha256_prefix_of_name(file_name: str) -> Optional[str]:
    """The sha256 prefix a release's file name carries (``...-5a8f1998.pth`` -> ``5a8f1998``), else None."""
    match = HASH_IN_NAME.search(file_name)
    return match.group(1) if match else None


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe(exc: BaseException) -> str:
    """gdown's and requests' exceptions -> a few words (their messages run over many lines)."""
    import requests

    response = getattr(exc, "response", None)
    if response is not None and response.status_code is not None:
        if response.status_code == 403 and "drive.google" in (response.url or ""):
            return "HTTP 403: Google Drive refused it (its download quota for this file is used up; try later)"
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return "cannot reach the server (offline, or the host is unreachable)"
    text = " ".join(str(exc).split())
    if "Too many users" in text or "quota" in text.lower():
        return "Google Drive's quota page: too many downloads of this file recently (try later)"
    if "incomplete" in text:  # gdown: "Download is incomplete: received N bytes but the server announced M bytes."
        return text.split(". ")[0].rstrip(".") + " (the bytes received are kept: run again to resume)"
    return text.split(". ")[0][:200] or type(exc).__name__


def _partial_bytes(target: str) -> int:
    """Bytes held by gdown's ``.part`` files of `target` (what a resume would start from)."""
    return sum(os.path.getsize(path) for path in glob.glob(glob.escape(target) + "*.part"))


def _transfer(url: str, target: str, quiet: bool) -> None:
    """Transfer `url` into `target` through gdown, resuming from its ``.part`` file; a transfer cut part-way is
    resumed up to `RETRIES` times as long as each try received bytes, while a server that cannot be reached fails
    after one connect timeout. Errors as `DownloadError`."""
    import gdown
    import requests

    received = _partial_bytes(target)
    for attempt in range(RETRIES + 1):
        try:
            gdown.download(url, target, quiet=quiet, resume=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
            return
        except (requests.exceptions.RequestException, gdown.exceptions.FileURLRetrievalError,
                gdown.exceptions.DownloadError, OSError) as exc:
            if "did not honor the requested byte range" in str(exc):
                for path in glob.glob(glob.escape(target) + "*.part"):
                    os.remove(path)
                raise DownloadError(f"cannot resume {url}: the server ignores Range requests; the partial file was "
                                    f"removed, run again to download from the start") from None
            now = _partial_bytes(target)
            if now <= received or attempt == RETRIES:
                raise DownloadError(f"cannot download {url}: {_describe(exc)}") from None
            received = now


def fetch(url: str, dest: str, sha256_prefix: Optional[str] = None, quiet: bool = False) -> str:
    """-> `dest`, downloading `url` there first unless it is already there (see the module docstring)."""
    from filelock import FileLock

    if os.path.isfile(dest):
        return dest
    folder = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(folder, exist_ok=True)
        lock = FileLock(dest + ".lock")
        lock.acquire()
    except OSError as exc:
        raise DownloadError(f"cannot write the cache folder {folder}: {exc.strerror or exc} "
                            f"(set VIS_HOME to a writable folder)") from None
    try:
        if os.path.isfile(dest):  # another process fetched it while this one waited for the lock
            return dest
        staging = dest + ".download"
        try:
            _transfer(url, staging, quiet)
        except DownloadError as exc:
            raise DownloadError(f"{exc}; or put the file there by hand: {dest}") from None
        if sha256_prefix is not None:
            digest = sha256_of(staging)
            if not digest.startswith(sha256_prefix.lower()):
                os.remove(staging)
                raise DownloadError(f"{url}: sha256 {digest[:len(sha256_prefix)]}... does not match the "
                                    f"{sha256_prefix} its name carries: the file was not kept")
        os.replace(staging, dest)
        return dest
    finally:
        lock.release()
