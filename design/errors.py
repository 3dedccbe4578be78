"""The design tool's user errors."""
from __future__ import annotations


class DesignError(ValueError):
    """A design request cannot be served (bad pose, texture, region, option, checkpoints); one line naming the
    bad thing and the fix."""
