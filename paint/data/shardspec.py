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
    """What a stream did: products decoded and units delivered (every read counts), and what was lost — each bad
    product once (by key) and each unreadable shard once (by URL), however often a training stream re-reads them.

    A bad shard (truncated, not a tar) is one shard error; the products it lost are those its manifest lists
    (`expected`) beyond the good ones read from it, so a broken last product read from it is part of that loss,
    not a bad product of its own."""
    products: int = 0                                  # products decoded
    units: int = 0                                     # units delivered in batches
    single_view: int = 0                               # products with one view (no pair unit; not an error)
    bad_products: dict = field(default_factory=dict)   # product key → (reason, shard URL)
    bad_shards: dict = field(default_factory=dict)     # shard URL → (error message, keys read whole before it)
    examples: list = field(default_factory=list)       # first few (key or shard, message) of what was lost

    def add_bad(self, reason: str, key: str, message: str, url: str = "") -> bool:
        """Count bad product `key` (once); True when it was new."""
        if key in self.bad_products:
            return False
        self.bad_products[key] = (reason, url)
        self._example(key, message)
        return True

    def add_bad_shard(self, url: str, message: str, read: frozenset) -> bool:
        """Count unreadable shard `url` (once); `read`: the keys that came out of it whole before the error (the
        product being read when it broke comes out after it, broken). True when new."""
        if url in self.bad_shards:
            message, before = self.bad_shards[url]
            self.bad_shards[url] = (message, before | read)
            return False
        self.bad_shards[url] = (message, read)
        self._example(os.path.basename(url) or url, message)
        return True

    def _shard_loss(self, url: str, expected: int) -> int:
        """Products of bad shard `url` not delivered: listed but not read whole, or read whole but bad. It does not
        depend on when the broken last product is decoded (training decodes after shuffling)."""
        whole = self.bad_shards[url][1]
        read_bad = sum(1 for key, (_, where) in self.bad_products.items() if where == url and key in whole)
        return max(0, expected - len(whole) + read_bad)

    def _example(self, what: str, message: str) -> None:
        if len(self.examples) < 5:
            self.examples.append((what, message))

    def _own_bad_products(self) -> list[str]:
        """Bad products not inside a bad shard (those are counted in the shard's loss)."""
        return [reason for reason, url in self.bad_products.values() if url not in self.bad_shards]

    @property
    def bad(self) -> Counter:
        """Reason → how many were lost: products by reason, and "shard" for unreadable shards."""
        counts = Counter(self._own_bad_products())
        if self.bad_shards:
            counts["shard"] = len(self.bad_shards)
        return counts

    @property
    def bad_total(self) -> int:
        """Bad products plus bad shards, each once."""
        return len(self._own_bad_products()) + len(self.bad_shards)

    def lost_products(self, expected: dict[str, int]) -> tuple[int, int]:
        """(products lost, bad shards whose loss is unknown): bad products plus, per bad shard that `expected`
        (URL → products its manifest lists) knows, those beyond the ones read before the error."""
        lost, unknown = len(self._own_bad_products()), 0
        for url in self.bad_shards:
            if url in expected:
                lost += self._shard_loss(url, expected[url])
            else:
                unknown += 1
        return lost, unknown

    def merged(self, other: "StreamStats") -> "StreamStats":
        shards = dict(self.bad_shards)
        for url, (message, read) in other.bad_shards.items():   # several readers of one shard: all they read whole
            shards[url] = (message, read | shards[url][1]) if url in shards else (message, read)
        return StreamStats(self.products + other.products, self.units + other.units,
                           self.single_view + other.single_view, {**other.bad_products, **self.bad_products},
                           shards, (self.examples + [e for e in other.examples if e not in self.examples])[:5])

    def copy(self) -> "StreamStats":
        return StreamStats().merged(self)

    def summary(self, expected: dict[str, int] | None = None) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.bad.items())) or "none"
        line = f"{self.products} products, {self.units} units, {self.bad_total} bad rows skipped ({reasons})"
        for url, (message, _) in list(self.bad_shards.items())[:3]:
            known = expected is not None and url in expected
            lost = f"{self._shard_loss(url, expected[url])} of {expected[url]}" if known else "an unknown number of"
            line += f"; unreadable shard {os.path.basename(url) or url!r}: {lost} products lost ({message})"
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
