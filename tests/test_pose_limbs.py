"""Limb maps (paint/models/pose_limbs.py) on hand-made poses: sticks between joint centres, fading with distance,
nothing for a limb with a missing joint; and the LGN generator that reads them."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from paint.data.keypoints import LIMBS, NUM_KEYPOINTS, pose_maps
from paint.data.labels import NUM_CLASSES
from paint.models.lgn import LGNNetConfig, build_lgn_generator
from paint.models.pose_limbs import NUM_LIMBS, joint_centres, limb_maps

SIZE = 64


def pose_with(joints: dict[int, tuple[float, float]]) -> torch.Tensor:
    keypoints = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for index, (x, y) in joints.items():
        keypoints[index] = (x, y, 1.0)
    return pose_maps(keypoints, (SIZE, SIZE), radius=2.0)[None]


def test_joint_centres_are_the_disc_centres_and_missing_joints_are_absent():
    centres, present = joint_centres(pose_with({1: (20, 10), 2: (40.0, 30.0)}))
    assert present[0, 1] and present[0, 2] and not present[0, 0]
    assert torch.allclose(centres[0, 1], torch.tensor([20.0, 10.0]), atol=1e-4)
    assert torch.allclose(centres[0, 2], torch.tensor([40.0, 30.0]), atol=1e-4)


def test_a_stick_runs_between_its_joints_and_fades_over_its_width():
    neck_to_shoulder = LIMBS.index((1, 2))
    maps = limb_maps(pose_with({1: (10, 32), 2: (50, 32)}), width=4.0)
    assert maps.shape == (1, NUM_LIMBS, SIZE, SIZE)
    stick = maps[0, neck_to_shoulder]
    assert stick[32, 10] == 1 and stick[32, 30] == 1 and stick[32, 50] == 1      # on the segment
    assert abs(stick[34, 30].item() - 0.5) < 1e-5                                 # 2 px off: half
    assert stick[36, 30] == 0 and stick[32, 56] == 0                              # ≥ width away, past the end
    others = torch.cat([maps[0, :neck_to_shoulder], maps[0, neck_to_shoulder + 1:]])
    assert others.abs().sum() == 0          # every other limb lacks a joint


def test_the_lgn_generator_reads_the_limbs_only_when_asked():
    pose = pose_with({1: (32, 12), 2: (24, 14), 3: (20, 28)})
    for width, channels in ((0.0, NUM_KEYPOINTS), (12.0, NUM_KEYPOINTS + NUM_LIMBS)):
        cfg = dataclasses.replace(LGNNetConfig.tiny(), limb_width=width, num_downs=4)
        g = build_lgn_generator(cfg, SIZE)
        assert g.net.down.in_channels == channels + cfg.nz    # + the concatenated code
        assert g(pose, torch.zeros(1, cfg.nz)).shape == (1, NUM_CLASSES, SIZE, SIZE)
