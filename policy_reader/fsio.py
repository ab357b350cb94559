"""Atomic file I/O. A kill at any instant leaves either the old or the new file, never a torn one."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


@contextmanager
def _temp_beside(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temp file in the target's folder (same file system, so the final rename is atomic).

    The body writes it, fsyncs it (`_sync`) and renames or links it into place; the temp name is
    always removed afterwards (after `os.replace` it is gone, after `os.link` it is a second name).
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
        os.replace(tmp, path)
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
    """Write `data` to `path` only if it does not exist yet (exclusive create, atomic).

    Returns False, writing nothing, when the file already exists: a checkpoint is written once.
    """
    path = Path(path)
    with _temp_beside(path) as (fh, tmp):
        fh.write(data)
        _sync(fh)
        try:
            os.link(tmp, path)  # atomic; fails if the target exists
        except FileExistsError:
            return False
    _fsync_dir(path.parent)
    return True


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
