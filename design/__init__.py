"""design: from a pose and texture photos to multi-view fashion designs with the three trained stages.

    from design import design
    result = design("standing", {"top": "red.png", "bottom": "denim.jpg"}, checkpoints="runs/demo",
                    views=3, variants=4, seed=0, out="runs/demo/design")
    result.images        # (variants, views, R, R, 3) uint8; result.layouts (variants, views, R, R) labels

`Designer(checkpoints)` keeps the models loaded across calls. See docs/DESIGN-TOOL.md for the rules (texture
scale, other views, codes) and `paint-design --help` for the command.
"""
from design.designer import DesignResult, Designer, design
from design.errors import DesignError
from design.poses import PoseSet, load_pose, preset_names
from design.textures import load_texture

__all__ = ["DesignError", "DesignResult", "Designer", "PoseSet", "design", "load_pose", "load_texture",
           "preset_names"]
