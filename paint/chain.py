"""The three-stage chain, written once: LGN lays out poses with style codes → TSN textures the source layouts from
patches → AFN renders each design to a target view. The pipeline evaluation (eval/pipeline.py) and paint-design
(design/chain.py) both run it; they differ only in where codes, patches and target layouts come from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from paint.data.labels import one_hot
from paint.inference import LoadedModel

Patches = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]   # {region: canvas}, {region: mask}


@dataclass
class ChainResult:
    source_labels: torch.Tensor          # (S, H, W) LGN's layouts of the source poses (argmax)
    target_labels: torch.Tensor          # (T, H, W) the targets' layouts (given, or LGN's)
    patches: dict[str, torch.Tensor]     # what TSN received, per region (S, 3, P, P)
    masks: dict[str, torch.Tensor]       # (S, 1, P, P)
    design: torch.Tensor                 # (S, 3, H, W) TSN's output in [-1, 1]
    output: torch.Tensor                 # (T, 3, H, W) AFN's renderings in [-1, 1] (T = 0: none)


@torch.no_grad()
def run_chain(models: dict[str, LoadedModel], source_poses: torch.Tensor, codes: torch.Tensor,
              patches_for: Callable[[torch.Tensor], Patches], target_poses: torch.Tensor,
              target_layouts: torch.Tensor | None = None, target_sources: torch.Tensor | None = None) -> ChainResult:
    """models: {"lgn", "tsn", "afn"} (paint.inference.load_pipeline); source_poses (S, 18, H, W) with codes
    (S, nz); patches_for(source labels) → TSN's patches and masks; target_poses (T, 18, H, W). Target i renders
    design target_sources[i]; without target_sources, design i (or the one design when S = 1). target_layouts
    (T, H, W) labels, or None: LGN lays the targets out with their design's code, in the same forward pass as the
    sources (one code shapes every view of a design)."""
    lgn, tsn, afn = models["lgn"], models["tsn"], models["afn"]
    sources, targets = source_poses.shape[0], target_poses.shape[0]
    if target_sources is None:
        if sources not in (1, targets) and targets:
            raise ValueError(f"{sources} sources for {targets} targets: give one source, or one per target")
        target_sources = torch.zeros(targets, dtype=torch.long) if sources == 1 else torch.arange(targets)
    elif target_sources.shape != (targets,) or (targets and not 0 <= int(target_sources.min()) <= int(
            target_sources.max()) < sources):
        raise ValueError(f"target_sources must hold one source index (0..{sources - 1}) per target ({targets})")
    target_sources = target_sources.to(source_poses.device)
    if target_layouts is None:
        target_codes = codes.index_select(0, target_sources)
        labels = lgn.stage.sample(lgn.generator, {"pose": torch.cat([source_poses, target_poses])},
                                  torch.cat([codes, target_codes])).argmax(1)
        source_labels, target_labels = labels[:sources], labels[sources:]
    else:
        source_labels = lgn.stage.sample(lgn.generator, {"pose": source_poses}, codes).argmax(1)
        target_labels = target_layouts
    patches, masks = patches_for(source_labels)
    design = tsn.generator(one_hot(source_labels), patches, masks)
    output = design.new_zeros((0, *design.shape[1:]))
    if targets:
        output = afn.stage.infer(afn.generator, {"src_image": design.index_select(0, target_sources),
                                                 "src_layout": source_labels.index_select(0, target_sources),
                                                 "tgt_layout": target_labels, "tgt_pose": target_poses})
    return ChainResult(source_labels, target_labels, patches, masks, design, output)
