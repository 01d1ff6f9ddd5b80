"""Architecture variants, one registry per component family.

Importing this package registers every variant. `workbench info` lists them.
"""

from workbench.core.registry import (
    ATTENTION,
    BLOCK,
    MLP,
    NORM,
    PLACEMENT,
    POSITION,
    REGISTRIES,
    REPARAM,
)
from workbench.variants import (  # noqa: F401  (importing registers the variants)
    attention,
    attention_kinds,
    attention_power,
    block_layout,
    identity,
    looped,
    mlp,
    mlp_poly,
    moe,
    norm,
    position,
    position_comrope,
    position_rope_scaling,
    recurrent_mixers,
    reparam,
    selective_ssm,
)

__all__ = ["ATTENTION", "BLOCK", "MLP", "NORM", "PLACEMENT", "POSITION", "REGISTRIES", "REPARAM"]
