"""Atomic file I/O. A kill at any instant leaves either the old or the new file, never a torn one.

What this relies on from the file system (and why it holds on App Service's `/home`, an SMB share
backed by Azure Storage, for one instance; see AZURE_DEPLOYMENT.md, "What the file store relies on"):
- `rename()` within one folder replaces the target atomically (`os.replace`);
- `fsync()` of a file makes its data durable; `fsync()` of a folder is best effort (errors ignored);
- advisory locks (`filelock`, i.e. `flock()`) exclude the other processes of this machine.
It never relies on hard links: SMB refuses `link()` (EPERM / EOPNOTSUPP), so a scheme built on them
loses every write-once file there.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock

CREATE_LOCK_TIMEOUT_S = 30.0  # a holder keeps it for one exists() + rename(): seconds means a frozen process


@contextmanager
def _temp_beside(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temp file in the target's folder (same file system, so the final rename is atomic).

    The body writes it, fsyncs it (`_sync`) and renames it into place; when the body does not (an
    error, a create that lost), the temp file is removed. A SIGKILL can leave a `.NAME.*.tmp` file,
    which no reader looks at (readers open final names only).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, Path(tmp)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _write_atomically(path: str | os.PathLike[str], fill: Callable[[BinaryIO], None]) -> None:
    path = Path(path)
    with _temp_beside(path) as (fh, tmp):
        fill(fh)
        _sync(fh)
        fh.close()  # never rename a file this process still holds open (SMB sharing rules)
        _replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` via temp file + fsync + os.replace (+ fsync of the folder)."""
    _write_atomically(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, ensure_ascii=False, indent=1, default=str).encode("utf-8"))


def atomic_copy_file(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Copy a (possibly large) file without holding it in memory; atomic like atomic_write_bytes."""
    def fill(fh: BinaryIO) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, fh, 1024 * 1024)
    _write_atomically(path, fill)


def atomic_create_bytes(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write `data` to `path` only if no file is there yet: write once, never overwrite, never torn.

    Returns False, writing nothing, when the file already exists (a checkpoint is written once).

    Why not `os.link(tmp, path)` (atomic "create if absent")? App Service's `/home` is SMB, which
    refuses hard links, and every result would be lost there. Instead: the data goes to a temp file
    beside the target and is fsynced; then, holding an advisory lock that every creator in that
    folder takes (`create_lock_path`), the target is checked and the temp file renamed onto
    it. A SIGKILL at any instant leaves either no file or the whole file under the final name (the
    rename is the only step that makes it visible), and no stale claim: the kernel drops the
    lock of a dead process. Readers never take the lock.
    """
    path = Path(path)
    if os.path.lexists(path):
        return False
    with _temp_beside(path) as (fh, tmp):
        fh.write(data)
        _sync(fh)
        fh.close()
        with FileLock(str(create_lock_path(path)), timeout=CREATE_LOCK_TIMEOUT_S):
            if os.path.lexists(path):
                return False
            _replace(tmp, path)
    _fsync_dir(path.parent)
    return True


def create_lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file `atomic_create_bytes` takes for `path`: one per folder, kept *beside* that
    folder (`jobs/<id>/.results.create.lock` for `jobs/<id>/results/d0001.json`), so the folder
    itself holds nothing but the files."""
    folder = Path(path).parent
    return folder.parent / f".{folder.name}.create.lock"


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, "rb") as fh:
        return json.loads(fh.read())


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line (for event logs). A torn last line is tolerated by readers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _replace(tmp: Path, path: Path) -> None:
    """`os.replace`, retried briefly when the target is busy.

    On an SMB share (App Service `/home`) replacing a file that another process has open at that
    instant can fail with EBUSY or EACCES (a sharing violation) instead of succeeding as on a local
    disk; readers hold files for milliseconds, so a few short retries ride it out. Anything else,
    or a target still busy after about a second, is raised.
    """
    for delay in _REPLACE_RETRY_DELAYS_S:
        try:
            os.replace(tmp, path)
            return
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.EACCES):
                raise
            time.sleep(delay)
    os.replace(tmp, path)


_REPLACE_RETRY_DELAYS_S = (0.01, 0.03, 0.1, 0.3, 0.6)


def _sync(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_stream(path: str | os.PathLike[str], fill: Callable[[BinaryIO], object]) -> None:
    """Let `fill(fh)` stream a (possibly large) file into place atomically, e.g. a blob download
    written chunk by chunk (policy_reader/azure_store.py): a kill leaves no partial file at `path`."""
    _write_atomically(path, fill)  # type: ignore[arg-type]
