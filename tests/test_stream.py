"""Shard streams on real tar shards and real loader worker processes: 2 ranks × 2 workers, 1/3/8 shards."""
import dataclasses
import logging
import shutil
from pathlib import Path

import pytest
import torch

from paint.config import DataConfig
from paint.data.stream import StreamError, eval_loader, expand_urls, train_loader
from tests.fixtures_products import (corrupt_member, expected_pair_keys, expected_view_keys, product_set,
                                     random_product, write_shards)

WORLD = 2
PRODUCTS = product_set(16, size=32)
PER_SHARD = {1: 16, 3: 6, 8: 2}   # shard count → products per shard
EXPECTED = {"view": expected_view_keys(PRODUCTS), "pair": expected_pair_keys(PRODUCTS)}


@pytest.fixture(scope="module")
def shard_sets(tmp_path_factory) -> dict[int, Path]:
    out = {}
    for count, per_shard in PER_SHARD.items():
        folder = tmp_path_factory.mktemp(f"shards{count}")
        assert len(write_shards(folder, PRODUCTS, per_shard)) == count
        out[count] = folder
    return out


def config(folder: Path, **changes) -> DataConfig:
    base = DataConfig(shards=str(folder), val_shards=str(folder), resolution=24, batch_size=3, loader_workers=2,
                      batches_per_epoch=4, shuffle_buffer=8, seed=1)
    return dataclasses.replace(base, **changes)


def eval_keys(unit: str, cfg: DataConfig, rank: int, **kw) -> list[str]:
    kw.setdefault("split", None)  # these folders hold train shards only; evaluation reads them whole
    return [key for batch in eval_loader(unit, cfg, rank, WORLD, **kw) for key in batch["key"]]


@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize("unit", ["view", "pair"])
def test_training_gives_the_same_batch_count_on_every_rank(shard_sets, count, unit):
    cfg = config(shard_sets[count])
    for rank in range(WORLD):
        loader = train_loader(unit, cfg, rank, WORLD)
        batches = list(loader)
        assert len(batches) == len(loader) == cfg.batches_per_epoch
        assert loader.stats.bad_total == 0 and loader.stats.units >= len(batches) * cfg.batch_size
        assert (loader.stats.single_view > 0) == (unit == "pair")  # p0000, p0004, … have one view
        assert all(len(b["key"]) == cfg.batch_size for b in batches)
        layout = "layout" if unit == "view" else "src_layout"
        assert batches[0][layout].dtype == torch.int64 and batches[0][layout].shape == (3, 24, 24)


def test_training_with_many_shards_splits_them_by_rank_and_worker(shard_sets):
    # 8 shards of 2 products, 2 ranks × 2 workers: rank r, worker w reads shards (2r + w) and (2r + w + 4)
    cfg = config(shard_sets[8], batches_per_epoch=6)
    for rank in range(WORLD):
        shards = {s for w in range(2) for s in (2 * rank + w, 2 * rank + w + 4)}
        allowed = {f"p{2 * s + k:04d}" for s in shards for k in range(2)}
        products = {key.split("/")[0] for b in train_loader("view", cfg, rank, WORLD) for key in b["key"]}
        assert products <= allowed and len(products) > 1


def test_training_is_reproducible_and_each_pass_moves_to_the_next_epoch(shard_sets):
    cfg = config(shard_sets[3])
    loader = train_loader("view", cfg, 0, WORLD)
    first = [b["key"] for b in loader]
    second = [b["key"] for b in loader]
    assert first == [b["key"] for b in train_loader("view", cfg, 0, WORLD)]
    assert second == [b["key"] for b in train_loader("view", cfg, 0, WORLD, epoch=1)]
    assert first != second
    assert first != [b["key"] for b in train_loader("view", cfg, 1, WORLD)]


@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize("unit", ["view", "pair"])
def test_evaluation_gives_every_unit_exactly_once_across_ranks(shard_sets, count, unit):
    cfg = config(shard_sets[count])
    per_rank = [eval_keys(unit, cfg, rank) for rank in range(WORLD)]
    together = per_rank[0] + per_rank[1]
    assert len(together) == len(set(together))
    assert sorted(together) == sorted(EXPECTED[unit])
    assert all(per_rank)  # both ranks work


def test_evaluation_order_is_deterministic_and_last_batch_kept(shard_sets):
    cfg = config(shard_sets[3])
    runs = [[b["key"] for b in eval_loader("view", cfg, 1, WORLD, split=None)] for _ in range(2)]
    assert runs[0] == runs[1]
    sizes = [len(keys) for keys in runs[0]]
    assert sum(sizes) == len(set(sum(runs[0], []))) and max(sizes) == cfg.batch_size
    single = [b["key"] for b in eval_loader("pair", config(shard_sets[1], loader_workers=0), 0, 1, batch_size=5,
                                            split=None)]
    assert sum(single, []) == EXPECTED["pair"]  # one rank, in-process: the global order itself
    assert [len(k) for k in single][-1] == len(EXPECTED["pair"]) % 5


def test_evaluation_all_pairs_and_in_process_workers(shard_sets):
    cfg = config(shard_sets[8], afn_eval_pairs="all", loader_workers=0)
    together = eval_keys("pair", cfg, 0) + eval_keys("pair", cfg, 1)
    assert sorted(together) == sorted(expected_pair_keys(PRODUCTS, "all"))


@pytest.mark.parametrize("count", [3, 8])
def test_evaluation_limit_counts_units_globally(shard_sets, count):
    cfg = config(shard_sets[count])
    together = eval_keys("view", cfg, 0, limit=11) + eval_keys("view", cfg, 1, limit=11)
    assert len(together) == 11 and sorted(together) == sorted(EXPECTED["view"][:11])
    assert eval_keys("view", cfg, 0, limit=0) == []


def test_brace_patterns_and_pipe_urls(shard_sets):
    folder = shard_sets[3]
    pattern = f"{folder}/train-{{000000..000002}}.tar"
    assert expand_urls(pattern) == [str(folder / f"train-{i:06d}.tar") for i in range(3)]
    assert expand_urls(f"{folder}/train-000002.tar,{folder}/train-000000.tar")[0].endswith("000002.tar")
    pipes = f"pipe:cat {folder}/train-{{000000..000002}}.tar"
    assert expand_urls(pipes)[1] == f"pipe:cat {folder}/train-000001.tar"
    cfg = config(folder)
    together = eval_keys("view", cfg, 0, shards=pipes) + eval_keys("view", cfg, 1, shards=pipes)
    assert sorted(together) == sorted(EXPECTED["view"])
    assert len(list(train_loader("pair", cfg, 0, WORLD, shards=pipes))) == cfg.batches_per_epoch


def test_missing_or_empty_shard_specs_fail_with_one_line_naming_them(shard_sets, tmp_path):
    pattern = f"{shard_sets[3]}/val-{{000000..000002}}.tar"
    with pytest.raises(StreamError, match="val-") as info:
        expand_urls(pattern)
    assert pattern in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(StreamError, match="holds no .tar"):
        expand_urls(str(tmp_path))
    with pytest.raises(StreamError, match="empty"):
        expand_urls("  ")
    with pytest.raises(StreamError, match="no shards given"):
        train_loader("view", DataConfig(), 0, 1)
    with pytest.raises(StreamError, match="rank 2"):
        eval_loader("view", config(shard_sets[3]), 2, 2)


@pytest.fixture(scope="module")
def corrupted(shard_sets, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corrupted")
    for shard in sorted(shard_sets[3].glob("*.tar")):
        shutil.copy(shard, folder / shard.name)
    corrupt_member(folder / "train-000000.tar", "p0003.v1.image.png")  # product 3 has 4 views
    corrupt_member(folder / "train-000001.tar", "p0009.meta.json", b"{not json")
    return folder


def test_training_skips_and_counts_a_corrupted_sample(corrupted, caplog):
    cfg = config(corrupted, batches_per_epoch=12)
    loader = train_loader("view", cfg, 0, 1)
    with caplog.at_level(logging.WARNING, logger="paint.data.stream"):
        keys = [key for batch in loader for key in batch["key"]]
    assert len(keys) == 12 * cfg.batch_size
    assert not any(key.startswith(("p0003/", "p0009/")) for key in keys)
    assert set(loader.stats.bad) == {"bad-image", "bad-meta"}
    assert {key for key, _ in loader.stats.examples} == {"p0003", "p0009"}
    assert "bad row" in caplog.text and "p0003" in caplog.text


def test_strict_evaluation_raises_naming_the_key_and_lenient_counts_it(corrupted):
    cfg = config(corrupted)
    with pytest.raises(StreamError, match="bad sample 'p000[39]'") as info:
        eval_keys("view", cfg, 0) + eval_keys("view", cfg, 1)
    assert "\n" not in str(info.value) and "--skip-bad" in str(info.value)   # what the user types
    loaders = [eval_loader("view", cfg, rank, WORLD, strict=False, split=None) for rank in range(WORLD)]
    together = [key for loader in loaders for batch in loader for key in batch["key"]]
    assert sorted(together) == sorted(k for k in EXPECTED["view"] if not k.startswith(("p0003/", "p0009/")))
    bad = loaders[0].stats.bad + loaders[1].stats.bad
    assert bad == {"bad-image": 1, "bad-meta": 1}


def test_a_bad_product_read_in_many_passes_is_counted_once(corrupted):
    loader = train_loader("view", config(corrupted, batches_per_epoch=12), 0, 1)
    for _ in range(3):   # three epochs re-read every shard several times
        list(loader)
    assert loader.stats.bad == {"bad-image": 1, "bad-meta": 1} and loader.stats.bad_total == 2
    assert loader.lost() == (2, 0)


def truncate_mid_product(shard: Path) -> tuple[int, int]:
    """Cut `shard` in the middle of its third product's second member (as an interrupted copy would);
    returns (products the shard held, products that survive whole)."""
    import tarfile
    with tarfile.open(shard) as tar:
        members = tar.getmembers()
    products = list(dict.fromkeys(m.name.split(".")[0] for m in members))
    third = [m for m in members if m.name.startswith(products[2] + ".")]
    cut = third[1].offset_data + third[1].size // 2
    shard.write_bytes(shard.read_bytes()[:cut])
    return len(products), 2


@pytest.fixture
def truncated(shard_sets, tmp_path) -> tuple[Path, Path, int]:
    """A copy of the 3-shard set (manifest included) whose train-000001.tar was cut short; the products it lost."""
    folder = tmp_path / "truncated"
    shutil.copytree(shard_sets[3], folder)
    shard = folder / "train-000001.tar"
    held, whole = truncate_mid_product(shard)
    return folder, shard, held - whole


def test_a_truncated_shard_is_one_shard_error_naming_the_products_it_lost(truncated, caplog):
    folder, shard, lost = truncated
    loader = train_loader("view", config(folder, batches_per_epoch=12, max_lost_fraction=1.0), 0, 1)
    with caplog.at_level(logging.WARNING, logger="paint.data.stream"):
        for _ in range(3):   # the truncated shard is re-read many times: still one shard error
            keys = [key for batch in loader for key in batch["key"]]
            assert len(keys) == 12 * 3
    stats = loader.stats
    assert stats.bad == {"shard": 1} and list(stats.bad_shards) == [str(shard)]
    assert loader.lost() == (lost, 0) and lost == 4
    assert f"unreadable shard 'train-000001.tar': {lost} of 6 products lost" in stats.summary(loader.expected)
    assert caplog.text.count("skipping the rest of unreadable shard") <= 2   # once per loader worker at most


def test_training_refuses_to_go_on_above_max_lost_fraction(truncated):
    folder, _, lost = truncated
    loader = train_loader("view", config(folder, batches_per_epoch=12, max_lost_fraction=0.05), 0, 1)
    with pytest.raises(StreamError, match=r"products lost .*more than data.max_lost_fraction=0.05") as info:
        for _ in range(3):
            list(loader)
    assert "\n" not in str(info.value) and f"{lost} of 16 products lost" in str(info.value)
    loader = train_loader("view", config(folder, batches_per_epoch=12, max_lost_fraction=0.3), 0, 1)
    for _ in range(3):   # 4 of 16 lost is 25 %: under 30 % it trains on
        assert len(list(loader)) == 12


def test_strict_evaluation_names_a_truncated_shard_and_lenient_counts_it_once(truncated):
    folder, shard, lost = truncated
    with pytest.raises(StreamError, match="unreadable shard data"):
        eval_keys("view", config(folder), 0)
    loader = eval_loader("view", config(folder), 0, 1, strict=False, split=None)
    keys = [key for batch in loader for key in batch["key"]]
    assert loader.stats.bad == {"shard": 1} and loader.lost() == (lost, 0)
    assert len({key.split("/")[0] for key in keys}) == 16 - lost


# ---------------------------------------------------------------------------------------------- splits

def split_products() -> list:
    """p0000-p0005 train, p0100-p0103 val, p0200-p0203 test (2 views each)."""
    return ([random_product(i, 2, 32, split="train") for i in range(6)]
            + [random_product(100 + i, 2, 32, split="val") for i in range(4)]
            + [random_product(200 + i, 2, 32, split="test") for i in range(4)])


def products_seen(batches) -> set[str]:
    return {key.split("/")[0] for batch in batches for key in batch["key"]}


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("splits")
    write_shards(folder, split_products(), 2)  # 3 train, 2 val, 2 test shards and a manifest.json
    return folder


def test_a_writer_folder_gives_each_loader_its_own_split(split_folder):
    cfg = config(split_folder, loader_workers=0, batches_per_epoch=6)
    assert products_seen(train_loader("view", cfg, 0, 1)) <= {f"p{i:04d}" for i in range(6)}
    assert products_seen(eval_loader("view", cfg, 0, 1)) == {f"p{100 + i:04d}" for i in range(4)}
    assert products_seen(eval_loader("view", cfg, 0, 1, split="test")) == {f"p{200 + i:04d}" for i in range(4)}
    assert len(products_seen(eval_loader("view", cfg, 0, 1, split=None))) == 14
    assert [Path(u).name for u in expand_urls(str(split_folder), "val")] == ["val-000000.tar", "val-000001.tar"]
    # explicit files and patterns are never filtered
    explicit = f"{split_folder}/test-000000.tar,{split_folder}/train-{{000000..000001}}.tar"
    assert len(expand_urls(explicit, "val")) == 3
    one_test_shard = f"{split_folder}/test-000000.tar"
    assert products_seen(train_loader("view", cfg, 0, 1, shards=one_test_shard)) == {"p0200", "p0201"}


def test_the_manifest_pattern_wins_over_file_names(split_folder, tmp_path):
    for shard in split_folder.glob("*.tar"):
        shutil.copy(shard, tmp_path / shard.name)
    shutil.copy(split_folder / "manifest.json", tmp_path / "manifest.json")
    shutil.copy(tmp_path / "val-000001.tar", tmp_path / "val-000002.tar")  # a stray file the manifest omits
    assert [Path(u).name for u in expand_urls(str(tmp_path), "val")] == ["val-000000.tar", "val-000001.tar"]
    (tmp_path / "val-000001.tar").unlink()
    with pytest.raises(StreamError, match="val-000001.tar"):
        expand_urls(str(tmp_path), "val")


def test_a_folder_without_manifest_uses_the_name_prefix(split_folder, tmp_path):
    for shard in split_folder.glob("*.tar"):
        shutil.copy(shard, tmp_path / shard.name)
    assert not (tmp_path / "manifest.json").exists()
    assert [Path(u).name for u in expand_urls(str(tmp_path), "test")] == ["test-000000.tar", "test-000001.tar"]
    cfg = config(tmp_path, loader_workers=0)
    assert products_seen(eval_loader("view", cfg, 0, 1, split="test")) == {f"p{200 + i:04d}" for i in range(4)}
    assert len(expand_urls(str(tmp_path))) == 7


def test_a_folder_without_the_split_fails_naming_folder_and_split(shard_sets, split_folder, tmp_path):
    with pytest.raises(StreamError, match="holds no 'val' shards") as info:  # manifest lists only train
        eval_loader("view", config(shard_sets[3]), 0, 1)
    assert str(shard_sets[3]) in str(info.value) and "\n" not in str(info.value)
    for shard in split_folder.glob("train-*.tar"):
        shutil.copy(shard, tmp_path / shard.name)
    with pytest.raises(StreamError, match="holds no 'test' shards") as info:  # no manifest, no test-*.tar
        expand_urls(str(tmp_path), "test")
    assert str(tmp_path) in str(info.value)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(StreamError, match="cannot read .*manifest.json"):
        expand_urls(str(tmp_path), "train")


@pytest.mark.parametrize("spec, remote", [
    ("shards/data/synth", False), ("a-{000..003}.tar,b.tar", False), ("file:///data/a.tar", False),
    ("C:\\data\\a.tar", False), ("x-{a,b}.tar", False), ("s3://bucket/a.tar", True),
    ("local.tar,https://host/b.tar", True), ("pipe:cat a.tar", True), ("gs://b/{0..3}.tar", True),
])
def test_one_rule_says_which_specs_are_read_remotely(spec, remote):
    from paint.data.shardspec import is_remote
    assert is_remote(spec) is remote
