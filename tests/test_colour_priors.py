"""The colour priors of TSN and AFN (model.colour_prior, AFN's model.pixel_blend): hand-made examples of the prior
images, and untrained generators whose garments already take the input's colours with the priors on and do not
with them off (or much less) — the behaviour that keeps short CPU runs from rendering grey or black garments."""
from __future__ import annotations

import dataclasses

import torch

from paint.data.labels import AFN_BACKGROUND_GROUP, AFN_GROUPS, GARMENT_GROUPS, afn_groups, one_hot
from paint.models import afn, tsn
from tests.test_models import BATCH, RES, person_labels, seeded

RED, BLUE, WHITE = torch.tensor([0.8, -0.8, -0.8]), torch.tensor([-0.8, -0.8, 0.8]), torch.tensor([0.9, 0.9, 0.9])


def group_of(label: int) -> int:
    return next(i for i, classes in enumerate(AFN_GROUPS) if label in classes)


def painted(labels: torch.Tensor, colours: dict[int, torch.Tensor], rest: torch.Tensor = WHITE) -> torch.Tensor:
    """(B, H, W) labels → (B, 3, H, W) image: each listed class in its colour, everything else `rest`."""
    image = rest.view(1, 3, 1, 1).expand(labels.shape[0], 3, *labels.shape[-2:]).clone()
    for label, colour in colours.items():
        image = torch.where((labels == label)[:, None], colour.view(1, 3, 1, 1), image)
    return image


def region_mean(image: torch.Tensor, labels: torch.Tensor, classes) -> torch.Tensor:
    mask = torch.isin(labels, torch.tensor(classes))
    return image.permute(1, 0, 2, 3)[:, mask].mean(1)


def redness(colour: torch.Tensor) -> float:
    return float(colour[0] - colour[2])


# --- AFN ------------------------------------------------------------------------------------------------------

def test_region_colours_paint_each_groups_source_mean_into_the_target_layout():
    source_labels = torch.zeros(1, 4, 4, dtype=torch.long)
    source_labels[0, 0, :2] = 5                       # upper clothes: one red, one blue pixel → mean (0, −0.8, 0)
    source_labels[0, 1, :2] = 2                       # hair: green
    image = torch.full((1, 3, 4, 4), 0.5)             # background 0.5 everywhere else
    image[0, :, 0, 0], image[0, :, 0, 1] = RED, BLUE
    image[0, :, 1, :2] = torch.tensor([-1.0, 1.0, -1.0])[:, None]
    target_labels = torch.zeros(1, 4, 4, dtype=torch.long)
    target_labels[0, 3, 3] = 5
    target_labels[0, 2, 2] = 13                       # face: absent from the source → the source person's mean
    target_labels[0, 0, 0] = 255                      # ignore → 0
    prior = afn.region_colours(image, afn_groups(source_labels), afn_groups(target_labels))
    torch.testing.assert_close(prior[0, :, 3, 3], torch.tensor([0.0, -0.8, 0.0]))
    torch.testing.assert_close(prior[0, :, 2, 2], torch.tensor([-0.5, 0.1, -0.5]))   # mean of the 4 person pixels
    torch.testing.assert_close(prior[0, :, 1, 1], torch.full((3,), 0.5))            # background from background
    assert prior[0, :, 0, 0].abs().max() == 0
    assert AFN_BACKGROUND_GROUP == group_of(0)


def untrained_afn(**changes) -> afn.FlowGenerator:
    seeded()
    return afn.build_afn_generator(dataclasses.replace(afn.AFNNetConfig.tiny(), **changes)).eval()


def test_untrained_afn_renders_the_source_garment_colours_in_another_view_only_with_its_priors():
    source_labels, target_labels = person_labels(), person_labels().flip(-1)
    target_labels[:, 34:58] = torch.roll(target_labels[:, 34:58], 3, dims=-1)  # the other view's legs moved
    source = painted(source_labels, {5: RED, 9: BLUE})
    layouts = afn_groups(source_labels), afn_groups(target_labels)
    gaps = {}
    for name, changes in (("priors", {}), ("none", {"colour_prior": False, "pixel_blend": False})):
        with torch.no_grad():
            out = untrained_afn(**changes)(source, *layouts)
        gaps[name] = redness(region_mean(out.image, target_labels, [5])) - redness(
            region_mean(out.image, target_labels, [9]))
    assert gaps["priors"] > 2.4, gaps              # the ideal is 3.2: (0.8 − (−0.8)) − (−0.8 − 0.8)
    assert gaps["priors"] > gaps["none"] + 1.0, gaps  # warped features alone carry much less of it


def test_afn_blend_mask_is_a_probability_and_off_means_no_mask():
    source_labels = person_labels()
    source = painted(source_labels, {5: RED})
    layouts = afn_groups(source_labels), afn_groups(source_labels)
    with torch.no_grad():
        on, off = untrained_afn()(source, *layouts), untrained_afn(pixel_blend=False)(source, *layouts)
    assert on.blend.shape == (BATCH, 1, RES, RES) and ((on.blend > 0) & (on.blend < 1)).all()
    assert off.blend is None and on.image.abs().max() <= 1


# --- TSN ------------------------------------------------------------------------------------------------------

def test_patch_colour_prior_paints_each_patchs_valid_mean_into_its_region_only():
    labels = person_labels()
    layout = one_hot(labels)
    canvas = torch.zeros(2 * BATCH, 3, 8, 8)           # (R·B): top of samples 0, 1, then bottom of samples 0, 1
    valid = torch.zeros(2 * BATCH, 1, 8, 8)
    canvas[:BATCH, :, :2], valid[:BATCH, :, :2] = RED.view(3, 1, 1), 1
    canvas[:BATCH, :, 2:] = 1.0                        # outside the mask: must not count
    canvas[BATCH:, :, :4], valid[BATCH:, :, :4] = BLUE.view(3, 1, 1), 1
    prior = tsn.patch_colour_prior(canvas, valid, tsn.stacked_region_masks(layout)).view(3, BATCH, 3, RES, RES)
    assert prior[0].abs().max() == 0                   # the texture-free pass has no prior
    top = torch.isin(labels, torch.tensor(GARMENT_GROUPS["top"]))
    bottom = torch.isin(labels, torch.tensor(GARMENT_GROUPS["bottom"]))
    torch.testing.assert_close(prior[1].permute(1, 0, 2, 3)[:, top], RED[:, None].expand(3, int(top.sum())))
    assert prior[1].permute(1, 0, 2, 3)[:, ~top].abs().max() == 0
    torch.testing.assert_close(prior[2].permute(1, 0, 2, 3)[:, bottom], BLUE[:, None].expand(3, int(bottom.sum())))


def test_untrained_tsn_renders_the_patch_colour_only_with_its_prior():
    labels = person_labels()
    layout = one_hot(labels)
    patch, mask = torch.zeros(BATCH, 3, 16, 16), torch.ones(BATCH, 1, 16, 16)
    patches = {"top": patch + RED.view(1, 3, 1, 1), "bottom": patch + BLUE.view(1, 3, 1, 1)}
    gaps = {}
    for name, prior in (("prior", True), ("none", False)):
        seeded()
        net = tsn.build_tsn_generator(dataclasses.replace(tsn.TSNNetConfig.tiny(), colour_prior=prior)).eval()
        with torch.no_grad():
            design = net(layout, patches, {"top": mask, "bottom": mask})
        gaps[name] = redness(region_mean(design, labels, GARMENT_GROUPS["top"])) - redness(
            region_mean(design, labels, GARMENT_GROUPS["bottom"]))
    assert gaps["prior"] > 2.0, gaps         # the ideal is 3.2: (0.8 − (−0.8)) − (−0.8 − 0.8)
    assert abs(gaps["none"]) < 0.5, gaps
