"""A design request as the studio's JSON API receives it: its schema, and the checks that turn it into what the
chain runs — or into one InputError with the HTTP status and a one-line message.

Checks run cheapest first (counts, region names, the pose) so that nothing is decoded for a request that is refused
anyway. Upload names never reach the file system: a texture is only bytes in memory, named by its region.

Statuses: 400 a body that is not JSON or a texture that is not base64; 413 too many bytes (body or texture), too
many decoded pixels (read from the image header, before decoding), too many images; 415 a texture that is not an
image; 422 anything else that is well-formed but unusable (unknown region, bad pose, counts out of range).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paint.data.units import PATCH_REGIONS
from design.designer import check_regions, check_views
from design.errors import DesignError, TooLarge, Unreadable
from design.poses import PoseSet, pose_from_data, preset_pose
from design.textures import Texture, texture_from_bytes
from studio.settings import Limits

_DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.ASCII)


class DesignRequest(BaseModel):
    """POST /api/designs: one design (every variant in every view)."""
    model_config = ConfigDict(extra="forbid")
    pose: str | dict[str, Any] = Field(
        description="a preset name (GET /api/poses), or one view's keypoints as OpenPose (COCO-18 / BODY_25) or "
                    "PAINT JSON, or several views as {\"canvas\": [H, W], \"views\": {name: [[x, y, c] × 18]}}")
    pose_canvas: list[int] | None = Field(None, description="[height, width] of the image a single-view pose's "
                                                            "keypoints belong to (default 256 × 256)")
    textures: dict[str, str] = Field(description=f"region ({', '.join(PATCH_REGIONS)}) → image file as base64 "
                                                 f"or a data: URL (JPEG, PNG, WebP, …)")
    views: int = Field(3, description="views per variant; the first is the pose's own")
    variants: int = Field(4, description="layouts to draw; variant k of a seed is the same whatever `variants` is")
    seed: int = Field(0, description="seed of the variants' codes: the same request and seed give the same design")


class InputError(Exception):
    """A request the studio refuses: `status` (4xx) and a one-line `message`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, " ".join(message.split())


@dataclass
class CheckedRequest:
    pose: PoseSet
    textures: dict[str, Texture]
    views: int
    variants: int
    seed: int


def parse_body(body: bytes, limits: Limits) -> DesignRequest:
    """The raw request body → DesignRequest (400 not JSON, 413 too large, 422 not the schema)."""
    if len(body) > limits.max_request_bytes:
        raise InputError(413, f"the request is {len(body) / 2**20:.1f} MiB; at most "
                              f"{limits.max_request_bytes / 2**20:g} MiB are accepted")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(400, f"the request body is not JSON ({exc})") from None
    try:
        return DesignRequest.model_validate(data)
    except ValidationError as exc:
        raise InputError(422, validation_message(exc.errors())) from None


def validation_message(errors: list[dict]) -> str:
    """pydantic's error list → one line naming the first bad field (and how many more there are)."""
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "the request"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def check_request(request: DesignRequest, limits: Limits) -> CheckedRequest:
    """Counts, regions, pose, then textures → CheckedRequest; InputError otherwise."""
    _check_counts(request, limits)
    try:
        check_regions(request.textures)
        pose = _pose(request)
        check_views(pose, request.views, "views")
    except DesignError as exc:
        raise InputError(422, str(exc)) from None
    textures = {region: _texture(region, text, limits) for region, text in request.textures.items()}
    return CheckedRequest(pose, textures, request.views, request.variants, request.seed)


def _check_counts(request: DesignRequest, limits: Limits) -> None:
    for name, value in (("views", request.views), ("variants", request.variants)):
        if value < 1:
            raise InputError(422, f"{name} must be ≥ 1, got {value}")
    if request.variants > limits.max_variants:
        raise InputError(413, f"variants {request.variants}: at most {limits.max_variants} per request")
    images = request.variants * request.views
    if images > limits.max_images:
        raise InputError(413, f"variants × views = {request.variants} × {request.views} = {images} images; at "
                              f"most {limits.max_images} per request")
    if not 0 <= request.seed < 2**63:
        raise InputError(422, f"seed must be in 0 … 2^63 - 1, got {request.seed}")


def _pose(request: DesignRequest) -> PoseSet:
    """The preset or uploaded pose; DesignError naming what is wrong with it."""
    canvas = request.pose_canvas
    if canvas is not None and (len(canvas) != 2 or min(canvas) < 1):
        raise DesignError(f"pose_canvas must be [height, width] in pixels, got {canvas}")
    if isinstance(request.pose, str):
        if canvas is not None:
            raise DesignError("pose_canvas applies to uploaded keypoints; presets state their own canvas")
        return preset_pose(request.pose)
    return pose_from_data(request.pose, "pose", tuple(canvas) if canvas else None, {"kind": "upload"})


def _texture(region: str, text: str, limits: Limits) -> Texture:
    name = f"texture for {region!r}"
    encoded = _DATA_URL.sub("", text, count=1)
    if len(encoded) * 3 // 4 > limits.max_texture_bytes + 3:     # refused before decoding the base64
        raise InputError(413, f"{name} is about {len(encoded) * 3 / 4 / 2**20:.1f} MiB; at most "
                              f"{limits.max_texture_bytes / 2**20:g} MiB per texture")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(400, f"{name} is not base64 (nor a base64 data: URL)") from None
    if len(data) > limits.max_texture_bytes:
        raise InputError(413, f"{name} is {len(data) / 2**20:.1f} MiB; at most "
                              f"{limits.max_texture_bytes / 2**20:g} MiB per texture")
    try:
        return texture_from_bytes(data, name, limits.max_texture_pixels)
    except TooLarge as exc:
        raise InputError(413, str(exc)) from None
    except Unreadable as exc:
        raise InputError(415, str(exc)) from None
    except DesignError as exc:
        raise InputError(422, str(exc)) from None
