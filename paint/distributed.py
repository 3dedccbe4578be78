"""torch.distributed as the library and evaluation see it: whether a process group is running, this process's place
in it, and the two object exchanges they need. Outside a group every helper answers as the only process would."""
from __future__ import annotations

from typing import Any

import torch.distributed as dist


def is_distributed() -> bool:
    """A torch.distributed process group is running in this process."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) in the running group; (0, 1) without one."""
    return (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)


def is_rank0() -> bool:
    """This process is rank 0, or there is no group (then it is the only one)."""
    return not is_distributed() or dist.get_rank() == 0


def gather_objects(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order (one process: [value]); collective."""
    if not is_distributed():
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def from_rank0(value: Any) -> Any:
    """`value` as rank 0 has it (itself outside a group); collective."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
