"""The design tool's user errors."""
from __future__ import annotations


class DesignError(ValueError):
    """A design request cannot be served (bad pose, texture, region, option, checkpoints); one line naming the
    bad thing and the fix."""


class TooLarge(DesignError):
    """An input over a size limit (bytes, decoded pixels, images per request)."""


class Unreadable(DesignError):
    """An input that cannot be decoded (not an image Pillow reads)."""
