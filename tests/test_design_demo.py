"""The design checks on the checkpoints the README's main command trained (`make demo` runs this module with
PAINT_DEMO_CHECKPOINTS=runs/demo after its paint-design step; the ordinary suite does not collect it, see
conftest.py, because those checkpoints take half an hour of CPU to train).

A solid red texture must give redder garments than a solid blue one in every view — TSN's front and AFN's back
and side — by more than 40 in (R − B) of the garment pixels' mean. Untrained networks pass that one (their colour
priors give the colour), so the pattern check is the one that shows training: vertical and horizontal stripes of
the same two colours must come out running the texture's way in every view (tests/design_patterns.py; untrained
networks fail it, tests/test_pattern_check.py).
"""
from __future__ import annotations

import os

import pytest

from design import Designer
from tests.design_colours import redness_gaps
from tests.design_patterns import MARGIN, pattern_gaps

DEMO_CHECKPOINTS = "PAINT_DEMO_CHECKPOINTS"


@pytest.fixture(scope="module")
def designer() -> Designer:
    return Designer(os.environ[DEMO_CHECKPOINTS])


def test_demo_designs_take_the_colour_of_the_texture_in_every_view(designer, tmp_path):
    gaps, colours = redness_gaps(designer, tmp_path, views=3, variants=4)
    assert (gaps > 40).all(), colours


def test_demo_designs_take_the_stripe_orientation_of_the_texture_in_every_view(designer, tmp_path):
    gaps, measured = pattern_gaps(designer, tmp_path, views=3, variants=4)
    assert (gaps > MARGIN).all(), measured
