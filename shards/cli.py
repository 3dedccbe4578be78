"""`paint-shards`: build, import, check and look at product shards.

    paint-shards synth --out shards/data/synth --products 1000 --views 4 --size 128 --seed 0
    paint-shards fashiongen --h5 fashiongen_256_256_train.h5 --keypoints pose/ --parsing parsing/ --out shards/fg
    paint-shards verify shards/data/synth            (or 'shards/data/synth/train-{000000..000009}.tar')
    paint-shards show shards/data/synth --out sheet.png --products 6

Mistakes a user can make end in one line on stderr (`paint-shards: error: …`) and exit code 2; `verify` exits
1 when it finds bad samples.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from paint.data.manifest import MANIFEST, read_manifest
from shards.errors import UserError

PROG = "paint-shards"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one UserError line instead of usage + message."""

    def error(self, message: str):
        raise UserError(f"{message} (see '{self.prog} --help')")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Build, import, check and look at PAINT product shards.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    synth = commands.add_parser("synth", help="generate synthetic multi-view products")
    synth.add_argument("--out", default="shards/data/synth", help="output folder (default: shards/data/synth)")
    synth.add_argument("--products", type=_positive, default=1000, help="products in all splits (default 1000)")
    synth.add_argument("--views", type=_positive, default=4, help="views per product (default 4)")
    synth.add_argument("--size", type=_positive, default=128, help="image side in pixels (default 128)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--per-shard", type=_positive, default=100, help="products per shard (default 100)")
    synth.add_argument("--workers", type=_positive, default=None,
                       help="processes rendering products (default: all CPU cores; output does not depend on it)")

    fashiongen = commands.add_parser("fashiongen", help="import Fashion-Gen HDF5 + keypoints + parsings")
    fashiongen.add_argument("--h5", required=True, help="fashiongen_256_256_{train,validation}.h5")
    fashiongen.add_argument("--keypoints", required=True,
                            help="folder of <name>_keypoints.json (OpenPose) or <name>.json (PAINT), searched "
                                 "recursively; <name> = <productID>_<view>")
    fashiongen.add_argument("--parsing", required=True, help="folder of <name>.png label maps, searched recursively")
    fashiongen.add_argument("--list", default=None, help="optional file of image names to import, one per line")
    fashiongen.add_argument("--out", required=True, help="output folder (must hold no shards yet)")
    fashiongen.add_argument("--split", choices=("train", "val", "test"), default=None,
                            help="split of these products (default: from the file name)")
    fashiongen.add_argument("--per-shard", type=_positive, default=100, help="products per shard (default 100)")

    verify = commands.add_parser("verify", help="re-read shards and check every sample")
    verify.add_argument("shards", help="folder of .tar shards or a pattern like 'dir/train-{000000..000009}.tar'")

    show = commands.add_parser("show", help="write a contact sheet PNG of the first products")
    show.add_argument("shards", help="folder of .tar shards or a brace pattern")
    show.add_argument("--out", required=True, help="PNG file to write")
    show.add_argument("--products", type=_positive, default=6, help="products to show (default 6)")
    return parser


def _print_splits(manifest: dict, out: Path) -> None:
    for split, info in sorted(manifest.get("splits", {}).items()):
        print(f"{split}: {info['products']} products, {info['views']} views, {len(info['shards'])} shard(s) "
              f"{out / info['pattern']}")
    print(f"manifest: {out / MANIFEST}")


def run_synth(args) -> int:
    try:
        from shards.synth import generate_shards
    except ImportError as exc:
        raise UserError(f"the synthetic generator is not available ({exc}); reinstall the project "
                        "with '.venv/bin/pip install -e .'") from None
    out = Path(args.out)
    try:
        manifest = generate_shards(out, args.products, args.views, args.size, args.seed,
                                   products_per_shard=args.per_shard, workers=args.workers)
    except ValueError as exc:  # the generator refuses option values it cannot render (e.g. a tiny --size)
        raise UserError(f"synth: {exc}") from None
    if not isinstance(manifest, dict):  # the generator may return nothing; its manifest is on disk then
        manifest = read_manifest(out)
    _print_splits(manifest, out)
    return 0


def run_fashiongen(args) -> int:
    from shards.fashiongen import import_fashiongen, summary

    manifest = import_fashiongen(args.h5, args.keypoints, args.parsing, args.out, split=args.split,
                                 list_file=args.list, products_per_shard=args.per_shard)
    print(summary(manifest, Path(args.out)))
    return 0


def run_verify(args) -> int:
    from shards.verify import verify

    report = verify(args.shards)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def run_show(args) -> int:
    from shards.show import write_sheet

    path, (width, height), shown = write_sheet(args.shards, args.out, args.products)
    print(f"wrote {path} ({width}x{height} px, {shown} product(s))")
    return 0


COMMANDS = {"synth": run_synth, "fashiongen": run_fashiongen, "verify": run_verify, "show": run_show}


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 1 verify found bad samples, 2 user error)."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (unfinished files were removed)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
