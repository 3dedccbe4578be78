"""Import the official Fashion-Gen HDF5 files plus OpenPose keypoints and CIHP parsings into product shards.

`fashiongen_256_256_{train,validation}.h5` holds one row per photo: `input_image` (N, H, W, 3) uint8,
`input_productID`, `input_pose` (the view id, e.g. b"id_gridfs_2", not keypoints), `input_category`,
`input_description`, … Text fields are bytes and may carry a singleton dimension ((N, 1) or (1, N)).

The file is read lazily in two passes: first only the ID and view columns, to learn which rows make up each
product (a product's rows need not be contiguous); then images block by block, product by product. A row's
image name is `<productID>_<view number>`; its keypoints and parsing are looked up under that name. Rows
whose annotation is missing or malformed are skipped and counted per reason — never replaced — and a product
keeps its remaining views (a product with none left is dropped).
"""
from __future__ import annotations

import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from paint.data.contract import SPLITS, ContractError, ProductSample, ViewSample, validate_product, validate_view
from paint.data.manifest import MANIFEST
from shards.annotations import RowSkipped, keypoint_index, parsing_index, read_keypoints, read_parsing
from shards.errors import UserError
from shards.writer import ShardSetWriter

REQUIRED_FIELDS = ("input_image", "input_productID", "input_pose")
_VIEW_NUMBER = re.compile(r"(\d+)$")
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclass(frozen=True)
class Row:
    index: int      # row in the HDF5 file
    name: str       # image name `<productID>_<view>`
    view: str       # view number as a string


@dataclass
class Skips:
    """Skipped rows, counted per reason and listed by name (both go into the manifest)."""
    counts: Counter = field(default_factory=Counter)
    rows: list[dict] = field(default_factory=list)

    def add(self, name: str, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        self.rows.append({"name": name, "reason": reason, **({"detail": detail} if detail else {})})


def infer_split(h5_path: Path) -> str:
    """`…_train.h5` → train, `…_validation.h5` / `…_val.h5` → val, `…_test.h5` → test."""
    words = set(re.split(r"[^a-z]+", h5_path.stem.lower()))
    for split, names in (("train", {"train"}), ("val", {"validation", "val", "valid"}), ("test", {"test"})):
        if words & names:
            return split
    raise UserError(f"cannot tell the split from the file name {h5_path.name!r}; pass --split train|val|test")


def read_name_list(path: Path) -> set[str]:
    """List file → image names: the first token of each line, folder and extension dropped (`a/b/1_2.jpg` → 1_2)."""
    names = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        token = line.split()[0] if line.split() else ""
        if token and not token.startswith("#"):
            names.add(Path(token).name.split(".")[0])
    if not names:
        raise UserError(f"--list file {path} names no images; give one image name (<productID>_<view>) per line")
    return names


def as_text(value) -> str:
    """One HDF5 cell (bytes, str, number or a 1-element array of them) → stripped text; bytes are latin-1."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("latin-1").strip().strip("\x00").strip()
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    if isinstance(value, (np.floating, float)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _row_axis(dataset, rows: int, key: str) -> int:
    """Which axis of a text field runs over the rows: the one of length `rows`, all others singleton."""
    shape = dataset.shape
    for axis, size in enumerate(shape):
        if size == rows and all(s == 1 for i, s in enumerate(shape) if i != axis):
            return axis
    raise UserError(f"HDF5 field {key!r} has shape {shape}, expected one value per image row ({rows}); "
                    "is this an official Fashion-Gen file?")


def read_column(h5, key: str, rows: int) -> list[str]:
    """A whole small text/ID column as a list of `rows` strings."""
    dataset = h5[key]
    _row_axis(dataset, rows, key)
    return [as_text(v) for v in np.asarray(dataset[()]).reshape(-1)]


class RowField:
    """One text field read row by row (descriptions are too big to read whole); missing field → `default`."""

    def __init__(self, h5, key: str, rows: int, default: str = ""):
        self.dataset = h5[key] if key in h5 else None
        self.default = default
        if self.dataset is not None:
            self.axis = _row_axis(self.dataset, rows, key)

    def __call__(self, row: int) -> str:
        if self.dataset is None:
            return self.default
        index = [0] * self.dataset.ndim
        index[self.axis] = row
        return as_text(self.dataset[tuple(index)])


class ImageBlocks:
    """Reads `input_image` in blocks of `block_rows` rows and keeps the last few: sequential products cost one
    read per block, scattered ones still work, and the whole array is never in memory."""

    def __init__(self, dataset, block_rows: int = 64, keep: int = 4):
        self.dataset, self.block_rows, self.keep = dataset, block_rows, keep
        self.blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getitem__(self, row: int) -> np.ndarray:
        block = row // self.block_rows
        if block not in self.blocks:
            start = block * self.block_rows
            try:
                self.blocks[block] = self.dataset[start: min(start + self.block_rows, self.dataset.shape[0])]
            except OSError:  # a damaged chunk: read this row alone so only the rows really hit are lost
                return self._single(row)
            while len(self.blocks) > self.keep:
                self.blocks.popitem(last=False)
        self.blocks.move_to_end(block)
        return self.blocks[block][row - block * self.block_rows]

    def _single(self, row: int) -> np.ndarray:
        try:
            return self.dataset[row]
        except OSError as exc:
            raise RowSkipped("unreadable image", f"HDF5 row {row}: {exc}") from None


def index_products(ids: list[str], poses: list[str], listed: set[str] | None,
                   skips: Skips) -> tuple[dict[str, list[Row]], int, int]:
    """First pass: product id → its rows (ordered by view number), the number of rows not in `listed`, and
    the number of `listed` names that no row has."""
    products: dict[str, dict[str, Row]] = {}
    not_listed, found = 0, set()
    for index, (pid, pose) in enumerate(zip(ids, poses)):
        match = _VIEW_NUMBER.search(pose)
        if match is None:
            skips.add(f"row {index}", "unrecognised view", f"input_pose {pose!r} does not end in a number")
            continue
        view, name = match.group(1), f"{pid}_{match.group(1)}"
        if listed is not None and name not in listed:
            not_listed += 1
            continue
        found.add(name)
        if not _PRODUCT_ID.match(pid):
            skips.add(name, "invalid product id", f"{pid!r} is not letters, digits, '_' or '-'")
            continue
        views = products.setdefault(pid, {})
        if view in views:
            skips.add(name, "duplicate view", f"rows {views[view].index} and {index}")
            continue
        views[view] = Row(index, name, view)
    ordered = {pid: sorted(views.values(), key=lambda r: int(r.view)) for pid, views in products.items()}
    return ordered, not_listed, len(listed - found) if listed is not None else 0


def check_inputs(h5_path: Path, keypoints_dir: Path, parsing_dir: Path, out_dir: Path,
                 list_file: Path | None) -> None:
    """Refuse bad paths before anything is opened or written."""
    if not h5_path.is_file():
        raise UserError(f"HDF5 file {h5_path} not found; pass --h5 path/to/fashiongen_256_256_train.h5")
    for flag, folder in (("--keypoints", keypoints_dir), ("--parsing", parsing_dir)):
        if not folder.is_dir():
            raise UserError(f"{flag} folder {folder} not found; pass the folder holding the {flag[2:]} files")
    if list_file is not None and not list_file.is_file():
        raise UserError(f"--list file {list_file} not found; give a text file with one image name per line")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a folder")
    if out_dir.is_dir():
        existing = sorted(p.name for p in out_dir.iterdir() if p.suffix == ".tar" or p.name == MANIFEST)
        if existing:
            raise UserError(f"--out {out_dir} already holds shards ({', '.join(existing[:3])}…); "
                            "choose an empty folder or remove them")


def _open_h5(h5_path: Path):
    import h5py  # deferred: only this command needs it

    try:
        h5 = h5py.File(h5_path, "r")
    except OSError as exc:
        raise UserError(f"{h5_path} is not a readable HDF5 file ({exc}); pass an official Fashion-Gen .h5") from None
    problem = None
    missing = [key for key in REQUIRED_FIELDS if key not in h5]
    if missing:
        problem = (f"{h5_path} has no {', '.join(missing)} (fields: {', '.join(sorted(h5.keys())[:8])}); "
                   "pass an official Fashion-Gen file such as fashiongen_256_256_train.h5")
    elif (h5["input_image"].ndim != 4 or h5["input_image"].shape[3] != 3
          or h5["input_image"].dtype != np.uint8):
        images = h5["input_image"]
        problem = f"{h5_path}: input_image has shape {images.shape} {images.dtype}, expected (N, H, W, 3) uint8"
    if problem:
        h5.close()
        raise UserError(problem)
    return h5


class _Source:
    """Where one row's pieces come from: the open HDF5 file and the two annotation indexes."""

    def __init__(self, h5, rows: int, keypoints, parsings, block_rows: int):
        self.images = ImageBlocks(h5["input_image"], block_rows)
        self.category = RowField(h5, "input_category", rows, default="unknown")
        self.description = RowField(h5, "input_description", rows)
        self.keypoints, self.parsings = keypoints, parsings


def _build_product(pid: str, rows: list[Row], split: str, source: _Source, skips: Skips,
                   tally: Counter) -> ProductSample | None:
    """A product's rows → validated ProductSample of its usable views, or None (counted) if none is usable."""
    views = {}
    for row in rows:
        try:
            views[row.view] = _build_view(row, source.images[row.index], source.keypoints, source.parsings, tally)
        except RowSkipped as skip:
            skips.add(row.name, skip.reason, skip.detail)
    if not views:
        tally["dropped_products"] += 1
        return None
    first = rows[0].index
    sample = ProductSample(product_id=pid, category=source.category(first) or "unknown", views=views,
                           source="fashiongen", split=split, extra={"description": source.description(first)})
    try:
        validate_product(sample)
    except ContractError as exc:
        for row in rows:
            if row.view in views:
                skips.add(row.name, "breaks contract", str(exc))
        tally["dropped_products"] += 1
        return None
    tally["imported_rows"] += len(views)
    tally["products"] += 1
    return sample


def _build_view(row: Row, image: np.ndarray, keypoints, parsings, tally: Counter) -> ViewSample:
    """One row → validated ViewSample; RowSkipped if its image or annotations are unusable."""
    image = np.ascontiguousarray(image)
    if image.shape[0] != image.shape[1]:
        raise RowSkipped("bad image", f"image is {image.shape[1]}x{image.shape[0]}, not square")
    size = image.shape[:2]
    pose, people = read_keypoints(keypoints.find(row.name), size)
    if people > 1:
        tally["several_people"] += 1
    view = ViewSample(image=image, parsing=read_parsing(parsings.find(row.name), size), pose=pose)
    try:
        validate_view(row.name, row.view, view)
    except ContractError as exc:
        raise RowSkipped("breaks contract", str(exc)) from None
    return view


def import_fashiongen(h5_path, keypoints_dir, parsing_dir, out_dir, split: str | None = None,
                      list_file=None, products_per_shard: int = 100, block_rows: int = 64,
                      progress: bool = True) -> dict:
    """Fashion-Gen HDF5 + keypoint folder + parsing folder → `<out>/<split>-NNNNNN.tar` + manifest.json.

    Returns the manifest (as written). Raises UserError for bad paths/files before writing anything; rows with
    bad annotations are skipped and reported in the manifest (`skipped`, `skipped_rows`).
    """
    h5_path, out_dir = Path(h5_path), Path(out_dir)
    keypoints_dir, parsing_dir = Path(keypoints_dir), Path(parsing_dir)
    list_file = Path(list_file) if list_file is not None else None
    if products_per_shard < 1:
        raise UserError(f"--per-shard must be at least 1, got {products_per_shard}")
    if split is not None and split not in SPLITS:
        raise UserError(f"--split {split!r} is not one of {', '.join(SPLITS)}")
    check_inputs(h5_path, keypoints_dir, parsing_dir, out_dir, list_file)
    split = split or infer_split(h5_path)
    listed = read_name_list(list_file) if list_file is not None else None
    keypoints, parsings = keypoint_index(keypoints_dir), parsing_index(parsing_dir)
    for flag, index, what in (("--keypoints", keypoints, "*.json"), ("--parsing", parsings, "*.png")):
        if not len(index):
            raise UserError(f"{flag} folder {index.root} holds no {what} files; pass the folder that does")

    skips, tally = Skips(), Counter()
    with _open_h5(h5_path) as h5:
        rows = h5["input_image"].shape[0]
        ids, poses = read_column(h5, "input_productID", rows), read_column(h5, "input_pose", rows)
        products, not_listed, listed_missing = index_products(ids, poses, listed, skips)
        source = _Source(h5, rows, keypoints, parsings, block_rows)
        created = not out_dir.exists()
        try:
            with ShardSetWriter(out_dir, products_per_shard) as writer:
                # Products in order of their first row keeps the image reads sequential for the usual file.
                order = sorted(products.items(), key=lambda item: min(r.index for r in item[1]))
                for pid, product_rows in tqdm(order, desc=f"fashiongen {split}", unit="product",
                                              disable=None if progress else True):
                    sample = _build_product(pid, product_rows, split, source, skips, tally)
                    if sample is not None:
                        writer.write(sample)
                if not tally["products"]:
                    raise UserError(f"no product could be imported from {h5_path} ({rows} rows; skipped: "
                                    f"{_reasons(skips.counts) or 'none'}; not in --list: {not_listed}); check "
                                    "that --keypoints and --parsing hold files named <productID>_<view>")
                return writer.finish({
                    "source": "fashiongen", "h5": str(h5_path.resolve()), "rows": rows,
                    "imported_rows": tally["imported_rows"], "skipped": dict(sorted(skips.counts.items())),
                    "skipped_rows": skips.rows, "dropped_products": tally["dropped_products"],
                    "several_people": tally["several_people"], "not_listed": not_listed,
                    "listed_not_found": listed_missing,
                    "keypoints": str(keypoints_dir.resolve()), "parsing": str(parsing_dir.resolve()),
                })
        except BaseException:
            if created and out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()  # leave no trace of a failed import
            raise


def _reasons(counts: Counter) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))


def summary(manifest: dict, out_dir: Path) -> str:
    """Short human summary of an import's manifest (several lines)."""
    lines = []
    for split, info in manifest["splits"].items():
        lines.append(f"{split}: {info['products']} products, {info['views']} views in {len(info['shards'])} "
                     f"shard(s) {out_dir / info['pattern']}")
    lines.append(f"rows: {manifest['rows']}, imported {manifest['imported_rows']}, "
                 f"skipped {sum(manifest['skipped'].values())}" + (f" ({_reasons(Counter(manifest['skipped']))})"
                                                                   if manifest["skipped"] else ""))
    if manifest["dropped_products"]:
        lines.append(f"dropped {manifest['dropped_products']} product(s) with no usable view")
    if manifest["not_listed"]:
        lines.append(f"left out {manifest['not_listed']} row(s) not named in --list")
    if manifest["listed_not_found"]:
        lines.append(f"{manifest['listed_not_found']} name(s) in --list match no row of the HDF5 file")
    lines.append(f"manifest: {out_dir / MANIFEST}")
    return "\n".join(lines)
