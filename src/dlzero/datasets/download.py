"""Downloading a data set's file from a mirror: timeouts, one retry, a size cap, atomic.

:mod:`dlzero.datasets.mnist` decides what to fetch and checks it by SHA-256 afterwards; this
module only brings the bytes, never more than a cap, into a temporary file beside the cache.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from dlzero._progress import progress_bar

__all__ = ["ATTEMPTS", "RETRY_DELAY_S", "TIMEOUT_S", "DownloadError", "download", "download_folder"]

TIMEOUT_S = 30.0  # per socket operation, not for the whole file
ATTEMPTS = 2  # per mirror: the first try and one retry
RETRY_DELAY_S = 1.0


class DownloadError(Exception):
    pass


class TooLarge(DownloadError):
    """More bytes than any copy of the file can be: not retried, the next mirror is tried."""


def download_folder(cache: Path) -> Path:
    """Where downloads land: the cache (so the final rename stays on one file system)."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return cache
    except OSError:
        return Path(tempfile.gettempdir())


def download(url: str, folder: Path, what: str, max_bytes: int) -> Path:
    """Download ``url`` to a new temporary file in ``folder`` and return its path.

    Transient failures (network errors, timeouts, 5xx, a connection cut short) are retried
    once after ``RETRY_DELAY_S``; a 4xx answer is not, nor more than ``max_bytes``. No file
    is left behind on failure.
    """
    # Imported here: http.client costs some 20 ms at import, paid only when downloading.
    import http.client
    import urllib.error

    last = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(RETRY_DELAY_S)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".part")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                copy_url(url, out, what, max_bytes)
            return tmp
        except TooLarge:
            tmp.unlink(missing_ok=True)
            raise
        except urllib.error.HTTPError as exc:
            tmp.unlink(missing_ok=True)
            exc.close()
            if 400 <= exc.code < 500:
                raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
            last = f"HTTP {exc.code} {exc.reason}"
        except (OSError, http.client.HTTPException, DownloadError) as exc:
            # URLError, timeouts and resets are OSErrors; IncompleteRead is an HTTPException.
            tmp.unlink(missing_ok=True)
            last = str(exc) or type(exc).__name__
        except BaseException:  # Ctrl-C included: leave no partial file
            tmp.unlink(missing_ok=True)
            raise
    raise DownloadError(f"{last} (tried {ATTEMPTS} times)")


def copy_url(url: str, out: IO[bytes], what: str, max_bytes: int) -> None:
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "dlzero"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        if total is not None and total > max_bytes:
            raise TooLarge(
                f"the server offers {total:,} bytes; a copy of {what} is at most {max_bytes:,}: "
                "not downloaded"
            )
        received = 0
        # A bar only on a terminal: in a log file its redrawn lines would be noise.
        bar = (
            progress_bar(total, f"downloading {what}", unit="B") if _stderr_is_terminal() else None
        )
        try:
            while chunk := response.read(1 << 16):
                received += len(chunk)
                if received > max_bytes:
                    raise TooLarge(
                        f"more than {max_bytes:,} bytes sent; a copy of {what} is at most "
                        f"that: stopped"
                    )
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and received != total:
            raise DownloadError(f"interrupted: received {received} of {total} bytes")


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False
