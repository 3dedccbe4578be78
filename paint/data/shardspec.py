"""Shard specs → ordered shard URL lists, and the error and statistics types the shard stream reports.

A spec is what a user writes in data.shards / data.val_shards: files, folders, brace patterns, globs, URLs or
`pipe:` commands, comma-separated. A folder written by shards/writer.py holds train-, val- and test- shards side
by side; `expand_urls(spec, split=...)` picks one split's shards from such a folder (by its manifest.json, else by
the `<split>-` name prefix). Explicit files, patterns and URLs are taken as given, never filtered.
"""
from __future__ import annotations

import glob
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field

import braceexpand

from paint.data.manifest import MANIFEST, read_manifest, split_shard_names

log = logging.getLogger(__name__)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")   # two letters or more, so "C:\..." stays a path
_FORMS = ("give a .tar file, a directory of .tar files, a brace pattern (train-{000000..000009}.tar), a URL or a "
          "pipe: command")


class StreamError(ValueError):
    """Shards cannot be found or read, or (strict evaluation) a sample is bad; one line naming it."""


@dataclass
class StreamStats:
    """What a stream did: good products and units, and bad rows skipped per reason."""
    products: int = 0                                  # products decoded
    units: int = 0                                     # units delivered in batches
    single_view: int = 0                               # products with one view (no pair unit; not an error)
    bad: Counter = field(default_factory=Counter)      # reason → bad rows skipped
    examples: list = field(default_factory=list)       # first few (key, message) of bad rows

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    def add_bad(self, reason: str, key: str, message: str) -> None:
        self.bad[reason] += 1
        if len(self.examples) < 5:
            self.examples.append((key, message))

    def merged(self, other: "StreamStats") -> "StreamStats":
        return StreamStats(self.products + other.products, self.units + other.units,
                           self.single_view + other.single_view, self.bad + other.bad,
                           (self.examples + other.examples)[:5])

    def copy(self) -> "StreamStats":
        return StreamStats().merged(self)

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.bad.items())) or "none"
        line = f"{self.products} products, {self.units} units, {self.bad_total} bad rows skipped ({reasons})"
        if self.single_view:
            line += f", {self.single_view} single-view products without pairs"
        if self.examples:
            line += f"; first bad: {self.examples[0][0]!r}: {self.examples[0][1]}"
        return line


def _split_top_level(spec: str) -> list[str]:
    """Split on commas outside braces, so 'a-{0..3}.tar,b.tar' and 'x-{a,b}.tar' both work."""
    parts, depth, current = [], 0, []
    for char in spec:
        depth += (char == "{") - (char == "}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def is_url(item: str) -> bool:
    """A URL (scheme://…, also s3://) or a `pipe:` command, not a local path ("file:" paths and "C:\\" stay
    local): the one test of what only a reader on the other side can check."""
    return bool(_SCHEME.match(item)) and not item.startswith("file:")


def is_remote(spec: str) -> bool:
    """Whether any comma-separated item of a shard spec is read remotely (a URL or a pipe: command)."""
    return any(is_url(part) for part in _split_top_level(spec))


def absolute_spec(spec: str) -> str:
    """The same spec with every local item made absolute (for readers in another working directory); URLs and
    pipe: commands unchanged. Nothing is expanded: a folder stays a folder, a pattern a pattern."""
    return ",".join(part if is_url(part) or part.startswith("file:") else os.path.abspath(os.path.expanduser(part))
                    for part in _split_top_level(spec))


def _split_in_folder(folder: str, split: str, spec: str) -> list[str]:
    """Paths of one split's shards in a writer folder: its manifest's brace pattern, else `<split>-*.tar`.
    Raises StreamError naming the folder and split when there are none."""
    manifest_path = os.path.join(folder, MANIFEST)
    if os.path.isfile(manifest_path):
        try:
            manifest = read_manifest(folder)
            splits = manifest["splits"]
            entry = splits.get(split)
            names = split_shard_names(manifest, split)
        except Exception as exc:  # unreadable JSON or an unexpected layout
            raise StreamError(f"shards {spec!r}: cannot read {manifest_path!r} ({type(exc).__name__}: {exc}); fix "
                              "or delete it, or name the shard files directly") from None
        if entry is None:  # the manifest lists every split the writer wrote
            raise StreamError(f"shards {spec!r}: directory {folder!r} holds no {split!r} shards (its {MANIFEST} "
                              f"lists splits {sorted(splits)}); write that split or name the shard files")
        if names:
            return [os.path.join(folder, name) for name in names]
    tars = sorted(glob.glob(os.path.join(glob.escape(folder), glob.escape(split) + "-*.tar")))
    if not tars:
        raise StreamError(f"shards {spec!r}: directory {folder!r} holds no {split!r} shards (no {split}-*.tar "
                          "files); write that split or name the shard files")
    return tars


def _expand_local(path: str, spec: str, split: str | None, missing: list[str]) -> list[str]:
    path = os.path.expanduser(path[len("file://"):] if path.startswith("file://") else path)
    if os.path.isdir(path):
        if split is not None:
            tars = _split_in_folder(path, split, spec)
            missing.extend(t for t in tars if not os.path.isfile(t))  # a manifest naming shards no longer there
            return [os.path.abspath(t) for t in tars if os.path.isfile(t)]
        tars = sorted(glob.glob(os.path.join(glob.escape(path), "*.tar")))
        if not tars:
            raise StreamError(f"shards {spec!r}: directory {path!r} holds no .tar files")
        return [os.path.abspath(t) for t in tars]
    if os.path.isfile(path):
        return [os.path.abspath(path)]
    if glob.has_magic(path):
        matches = sorted(glob.glob(path))
        if matches:
            return [os.path.abspath(m) for m in matches]
    missing.append(path)
    return []


def expand_urls(spec: str, split: str | None = None) -> list[str]:
    """Shard spec → ordered list of shard URLs.

    `spec`: comma-separated items, each a local .tar file, a directory (its *.tar, sorted), a brace pattern
    (`train-{000000..000009}.tar`), a glob, an http(s)/gs URL or a `pipe:` command (passed to webdataset's
    gopen as is; s3:// URLs become `pipe:aws s3 cp URL -`). Local paths come back absolute.
    `split` ("train", "val", "test"; None = everything): a directory item gives only that split's shards, named
    by the pattern in its manifest.json or, without one, the files `<split>-*.tar`. Other items are not filtered.
    Raises StreamError naming `spec` when nothing matches, a local file is missing, or a directory holds no
    shards of `split`.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise StreamError(f"shards {spec!r} is empty; {_FORMS}")
    urls, missing = [], []
    for part in _split_top_level(spec):
        try:
            items = list(braceexpand.braceexpand(part))
        except Exception as exc:  # unbalanced braces and the like
            raise StreamError(f"shards {spec!r}: cannot expand {part!r} ({exc})") from None
        for item in items:
            if not item.strip():
                continue
            if item.startswith("s3://"):
                urls.append(f"pipe:aws s3 cp {item} -")  # webdataset 1.0 gopen has no s3 handler
            elif is_url(item):
                urls.append(item)
            else:
                urls.extend(_expand_local(item, spec, split, missing))
    if missing:
        raise StreamError(f"shards {spec!r}: {len(missing)} local file(s) not found, e.g. {missing[0]!r}; "
                          "check the path or brace pattern")
    if not urls:
        raise StreamError(f"shards {spec!r} name no shard files; {_FORMS}")
    unique = list(dict.fromkeys(urls))
    if len(unique) < len(urls):
        log.warning("shards %r name %d shard(s) more than once; each is used once", spec, len(urls) - len(unique))
    return unique
