"""Re-read every sample of a set of shards and check it against the sample contract and the manifest.

`verify("shards/data/synth")` (a folder: all its *.tar) or `verify("shards/data/synth/train-{000000..000003}.tar")`
decodes each product with `paint.data.contract.decode_product`, counts shards, products and views per split,
and lists one error line per bad sample. If a `manifest.json` sits next to the shards, each shard's sha256
and product count are compared with it.
"""
from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from braceexpand import braceexpand
from webdataset.tariterators import group_by_keys, tar_file_iterator

from paint.data.contract import ContractError, decode_product
from paint.data.manifest import MANIFEST, listed_shards, read_manifest
from paint.io import sha256_file
from shards.errors import UserError

_SHARD_NAME = re.compile(r"^([A-Za-z]+)-\d+\.tar$")
_BOOKKEEPING = ("__key__", "__url__", "__local_path__")


def resolve_shards(spec: str) -> tuple[list[Path], list[Path]]:
    """Folder (its *.tar) or brace/glob pattern → (existing shard paths in order, named but missing paths).

    Raises UserError when nothing exists, so callers never silently work on zero shards.
    """
    folder = Path(spec)
    if folder.is_dir():
        shards = sorted(folder.glob("*.tar"))
        if not shards:
            raise UserError(f"folder {folder} holds no .tar shards; pass the folder written by paint-shards "
                            "or a pattern such as 'dir/train-{000000..000009}.tar'")
        return shards, []
    existing, missing = [], []
    for name in braceexpand(str(spec)):
        if glob.has_magic(name):
            existing.extend(Path(p) for p in sorted(glob.glob(name)))
        elif Path(name).is_file():
            existing.append(Path(name))
        else:
            missing.append(Path(name))
    if not existing:
        raise UserError(f"no shard matches {spec!r}; pass an existing folder of .tar shards or a pattern "
                        "such as 'dir/train-{000000..000009}.tar'")
    return existing, missing


def read_samples(path: Path) -> Iterator[dict]:
    """One tar shard → its raw samples (`__key__` plus member bytes), read with webdataset's tar iterator.

    Suffixes keep their case (`lcase=False`): view ids may contain capitals.
    """
    with open(path, "rb") as handle:
        files = ({**member, "__url__": str(path)} for member in tar_file_iterator(handle))
        yield from group_by_keys(files, lcase=False)


@dataclass
class SplitCounts:
    shards: int = 0
    products: int = 0
    views: int = 0


@dataclass
class VerifyReport:
    shards: list[Path] = field(default_factory=list)
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """Human report: one line per split, then warnings and errors, then the verdict."""
        out = [f"{split}: {c.shards} shard(s), {c.products} products, {c.views} views"
               for split, c in sorted(self.splits.items())]
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"error: {e}" for e in self.errors]
        verdict = "OK" if self.ok else f"FAILED with {len(self.errors)} error(s)"
        out.append(f"{len(self.shards)} shard(s) checked: {verdict}")
        return out


def _extra_member_checks(raw: dict, meta: dict) -> list[str]:
    """Problems decode_product does not look for: members no view claims, meta image_size that lies."""
    expected = {"meta.json"}
    for view in meta["views"]:
        expected |= {f"{view}.image.png", f"{view}.image.jpg", f"{view}.image.jpeg", f"{view}.parsing.png",
                     f"{view}.pose.json"}
    problems = [f"member {m!r} belongs to no view in meta.json" for m in raw
                if m not in expected and m not in _BOOKKEEPING]
    return problems


def _check_shard(path: Path, report: VerifyReport, seen: dict[str, str]) -> int:
    """Decode every product of one shard into `report`; returns how many samples the shard holds."""
    name_split = _SHARD_NAME.match(path.name)
    count, splits = 0, set()
    try:
        for raw in read_samples(path):
            key = raw["__key__"]
            count += 1
            if key in seen:
                report.errors.append(f"{path.name}, {key}: product key also in {seen[key]}")
            seen.setdefault(key, path.name)
            try:
                sample = decode_product(raw)
            except ContractError as exc:
                report.errors.append(f"{path.name}, {key}: {exc}")
                continue
            meta = json.loads(raw["meta.json"])
            problems = _extra_member_checks(raw, meta)
            if list(meta["image_size"]) != list(sample.image_size):
                problems.append(f"meta image_size {meta['image_size']} but images are {list(sample.image_size)}")
            if name_split and name_split.group(1) != sample.split:
                problems.append(f"split {sample.split!r} inside a {name_split.group(1)} shard")
            report.errors += [f"{path.name}, {key}: {p}" for p in problems]
            counts = report.splits.setdefault(sample.split, SplitCounts())
            counts.products += 1
            counts.views += len(sample.views)
            splits.add(sample.split)
    except Exception as exc:  # truncated or corrupt tar: tarfile/webdataset raise several types
        report.errors.append(f"{path.name}: cannot read the tar ({type(exc).__name__}: {exc})")
    if count == 0:
        report.warnings.append(f"{path.name} holds no products")
    for split in splits or ({name_split.group(1)} if name_split else set()):
        report.splits.setdefault(split, SplitCounts()).shards += 1
    return count


def _load_manifest(folder: Path, report: VerifyReport) -> dict | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return listed_shards(read_manifest(folder))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        report.errors.append(f"{path}: unreadable manifest ({type(exc).__name__}: {exc})")
        return None


def _compare_with_manifest(path: Path, count: int, listed: dict | None, report: VerifyReport) -> None:
    if listed is None:
        return
    entry = listed.get(path.name)
    if entry is None:
        report.warnings.append(f"{path.name} is not listed in {path.parent / MANIFEST}")
        return
    if entry.get("products") != count:
        report.errors.append(f"{path.name}: holds {count} products, manifest says {entry.get('products')}")
    if entry.get("sha256") != sha256_file(path):
        report.errors.append(f"{path.name}: sha256 differs from the manifest (file changed after writing)")


def verify(spec: str) -> VerifyReport:
    """Folder or shard pattern → VerifyReport (counts per split, errors, warnings). UserError if no shard."""
    shards, missing = resolve_shards(spec)
    report = VerifyReport(shards=shards)
    report.errors += [f"{path}: file not found (named by the pattern)" for path in missing]
    manifests: dict[Path, dict | None] = {}
    seen: dict[str, str] = {}
    for path in shards:
        count = _check_shard(path, report, seen)
        if path.parent not in manifests:
            manifests[path.parent] = _load_manifest(path.parent, report)
        _compare_with_manifest(path, count, manifests[path.parent], report)
    if Path(spec).is_dir() and manifests.get(Path(spec)):
        present = {p.name for p in shards}
        report.errors += [f"{name}: listed in the manifest but missing from {spec}"
                          for name in sorted(manifests[Path(spec)]) if name not in present]
    return report
