"""Style codes z ~ N(0, I) for evaluation, one generator per (purpose, eval seed, unit key[, draw]), so a unit's codes
do not depend on the batch it falls in, the batch size or the number of workers (paint.data.units.stable_seed is
equal across processes and runs)."""
from __future__ import annotations

import torch

from paint.data.units import stable_seed

LGN_CODE_TAG = "lgn-code"             # the LGN row's K codes per pose (eval/model_eval.py)
PIPELINE_CODE_TAG = "pipeline-code"   # the pipeline row's one code per pair (eval/pipeline.py)


def unit_code(tag: str, seed: int, key: str, nz: int, draw: int | None = None) -> torch.Tensor:
    """(nz,) float32 code for one unit; `draw` k numbers a unit's k-th code (None: the unit's single code, seeded
    by (tag, seed, key) alone, as the pipeline row has always drawn it)."""
    parts = (tag, seed, key) if draw is None else (tag, seed, key, draw)
    generator = torch.Generator().manual_seed(stable_seed(*parts) % 2 ** 63)
    return torch.randn(nz, generator=generator)


def unit_codes(tag: str, seed: int, keys: list[str], nz: int, draws: int) -> torch.Tensor:
    """(B, K, nz) codes: K = `draws` codes for each of the B unit `keys` (CPU; move them to the model's device)."""
    return torch.stack([torch.stack([unit_code(tag, seed, key, nz, k) for k in range(draws)]) for key in keys])
