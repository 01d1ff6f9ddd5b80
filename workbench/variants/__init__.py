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
    attention_collapsed,
    attention_kinds,
    attention_power,
    attention_sparse,
    block_layout,
    decay_mixers,
    identity,
    looped,
    mamba2,
    mlp,
    mlp_nested,
    mlp_poly,
    moe,
    norm,
    pool_mixer,
    position,
    position_comrope,
    position_rope_scaling,
    recurrent_mixers,
    reparam,
    selective_ssm,
)

__all__ = ["ATTENTION", "BLOCK", "MLP", "NORM", "PLACEMENT", "POSITION", "REGISTRIES", "REPARAM"]
