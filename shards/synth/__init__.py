"""Procedural, deterministic multi-view fashion products: the embedded default dataset.

`render_product(seed, index, views, size)` draws one product; `generate_shards(out, products, views, size, seed,
…)` writes a whole train/val/test shard set with a manifest.
"""
from shards.synth.generate import GENERATOR_VERSION, generate_shards
from shards.synth.product import MAX_VIEWS, VIEW_YAWS, render_product, split_of, view_ids

__all__ = ["GENERATOR_VERSION", "MAX_VIEWS", "VIEW_YAWS", "generate_shards", "render_product", "split_of",
           "view_ids"]
