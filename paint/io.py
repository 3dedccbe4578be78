"""Files written so that a reader never sees half of one: a temporary name in the same folder, then a rename."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def partial_name(path: Path) -> Path:
    """A hidden, unique sibling of `path` to write into before renaming (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` as `path`: readers see the old file or the new one, never a mix. The file gets the umask's mode."""
    path = Path(path)
    tmp = partial_name(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
