"""`paint-design`: a pose and texture photos → multi-view fashion designs from the trained LGN, TSN and AFN.

    paint-design --pose standing --texture top=red.png --texture bottom=denim.jpg --views 3 --variants 4 \\
                 --checkpoints runs/demo --out runs/demo/design

Writes, into --out: every view of every variant (variant<k>_<view>.png), their layouts (…_layout.png), the patches
TSN received (variant<k>_patch_<region>.png), a contact sheet (sheet.png) and design.json (checkpoints, seed,
inputs, rules). A mistake ends in one line on stderr (`paint-design: error: …`), exit code 2 and --out untouched.
"""
from __future__ import annotations

import argparse
import sys
import time

from paint.checkpoint import CheckpointError
from paint.data.units import PATCH_REGIONS
from design.designer import Designer, check_request
from design.errors import DesignError
from design.poses import DEFAULT_CANVAS, preset_names
from design.sheet import SHEET, check_out
from paint.inference import parse_named_checkpoints

PROG = "paint-design"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one DesignError line instead of usage + message."""

    def error(self, message: str):
        raise DesignError(f"{message} (see '{self.prog} --help')")


def _pose_size(text: str) -> tuple[int, int]:
    """"WxH" or "S" → (H, W)."""
    width, _, height = text.lower().partition("x")
    try:
        size = (int(height or width), int(width))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH (e.g. 256x256)") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: sides must be ≥ 1")
    return size


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="A pose and texture photos → multi-view fashion designs (LGN → TSN → AFN).")
    p.add_argument("--pose", required=True, help=f"a preset ({', '.join(preset_names())}) or a keypoint JSON "
                   "(OpenPose COCO-18/BODY_25, or PAINT-style {\"0\": [x, y], …})")
    p.add_argument("--pose-size", type=_pose_size, metavar="WxH", help="size of the image a pose file's keypoints "
                   f"belong to (default {DEFAULT_CANVAS[1]}x{DEFAULT_CANVAS[0]})")
    p.add_argument("--texture", action="append", default=[], metavar="REGION=PATH", required=True,
                   help=f"texture photo for a garment region ({', '.join(PATCH_REGIONS)}); repeat per region")
    p.add_argument("--views", type=int, default=3, help="views per design, first = the pose's own (default 3)")
    p.add_argument("--variants", type=int, default=4, help="layouts (LGN codes) to draw (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the variants' codes (default 0)")
    p.add_argument("--checkpoints", nargs="+", metavar="DIR|STAGE=PATH",
                   help="a folder holding lgn/ tsn/ afn/ run or checkpoint folders, or lgn=… tsn=… afn=… "
                        "(default: runs/demo, what the README's main command writes)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", required=True, help="output folder (new, empty or an earlier design)")
    return p


def _textures(items: list[str]) -> dict[str, str]:
    textures = {}
    for item in items:
        region, sep, path = item.partition("=")
        region = region.strip()
        if not sep or not path:
            raise DesignError(f"--texture {item!r} must look like REGION=PATH, regions: {', '.join(PATCH_REGIONS)}")
        if region in textures:
            raise DesignError(f"--texture {region}= given twice; give one photo per region")
        textures[region] = path
    return textures


def _checkpoints(items: list[str] | None):
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        return items[0]
    return parse_named_checkpoints(items)


def run(argv: list[str]) -> str:
    args = build_parser().parse_args(argv)
    textures = _textures(args.texture)
    check_out(args.out)
    pose, loaded = check_request(args.pose, textures, args.views, args.variants, args.pose_size)
    start = time.perf_counter()
    designer = Designer(_checkpoints(args.checkpoints), args.device)
    result = designer.run(pose, loaded, args.views, args.variants, args.seed)
    out = result.save(args.out)
    return (f"{PROG}: {args.variants} variants × {len(result.view_names)} views ({', '.join(result.view_names)}) "
            f"in {time.perf_counter() - start:.1f} s → {out}/ (contact sheet: {out / SHEET})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        print(run(argv))
    except (DesignError, CheckpointError) as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; --out left as it was", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
