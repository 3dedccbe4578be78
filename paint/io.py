"""Files written so that a reader never sees half of one: a temporary name in the same folder, then a rename.
Also the one sha256-of-a-file every module uses."""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable

_BLOCK = 1 << 20    # bytes read at a time when hashing


def partial_name(path: Path) -> Path:
    """A hidden, unique sibling of `path` to write into before renaming (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")


class PendingPath:
    """A temporary sibling `tmp` of `path` for writers that need a path of their own (torch.save, PIL, a tar
    writer, a folder filled file by file). `commit()` renames it to `path`; `discard()` removes whatever is left
    of it (file or folder). As a context manager it yields `tmp`, commits when the block ends without an error
    (unless the block committed already) and discards in every case, so no temporary file outlives it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = partial_name(self.path)
        self.committed = False

    def commit(self) -> Path:
        os.replace(self.tmp, self.path)
        self.committed = True
        return self.path

    def discard(self) -> None:
        if self.tmp.is_dir() and not self.tmp.is_symlink():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and not self.committed:
                self.commit()
        finally:
            self.discard()


def atomic_path(path: str | Path) -> PendingPath:
    """`with atomic_path(p) as tmp: image.save(tmp)`: `p` appears whole when the block succeeds, else not at all
    (an older `p` is kept). The file gets the umask's mode, as any new file."""
    return PendingPath(path)


def write_bytes_atomic(path: str | Path, data: bytes, durable: bool = False) -> Path:
    """Write `data` as `path`: readers see the old file or the new one, never a mix. The file gets the umask's mode.
    `durable` also flushes the file and then its folder to disk (survives a power cut, not only a crash)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    if durable:
        sync_folder(path.parent)
    return path


def write_text_atomic(path: str | Path, text: str, durable: bool = False) -> Path:
    """`write_bytes_atomic` for text (UTF-8)."""
    return write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


def sync_folder(folder: str | Path) -> None:
    """Make the renames in `folder` durable; a no-op where a folder cannot be opened (not every platform can)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def publish(staged: Path, folder: Path, names: Iterable[str]) -> None:
    """Rename the finished files `staged/<name>` to `folder/<name>`, one by one in the given order (each rename
    atomic: a reader sees every file old or new). For several files written first and shown together."""
    for name in names:
        os.replace(staged / name, folder / name)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def deleted_by_ray(path: str | os.PathLike) -> bool:
    """Whether `path` lies in a folder Ray removes on its own: a job's copy of its `--working-dir` (or another
    runtime resource) under a Ray session's temp folder, where a relative output path of a `ray job submit`
    entrypoint lands."""
    parts = Path(path).expanduser().absolute().parts
    return "runtime_resources" in parts and any(part.startswith("session_") for part in parts)


def ray_deletes_message(what: str, given: str | os.PathLike) -> str:
    """The one-line refusal of an output path that deleted_by_ray."""
    return (f"{what}={str(given)!r} resolves to {str(Path(given).expanduser().absolute())!r}, inside the Ray job's "
            f"copy of its working dir, which Ray deletes when the job ends; give an absolute path outside it (or a "
            f"cloud URI)")
