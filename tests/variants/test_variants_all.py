"""Every registered variant builds by name and object, trains, fires its hooks, and either
gives its statistics or says clearly which it lacks."""

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.core.registry import REGISTRIES

BASE = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=16, n_ctx=32, seed=0)
FIELDS = {"attention": "attention", "norm": "norm", "placement": "norm_placement",
          "mlp": "mlp", "position": "position", "reparam": "reparam",
          "block": "block"}  # fmt: skip
CASES = [(family, name) for family, reg in REGISTRIES.items() for name in reg.names()]


def copy_task(batch: int = 16, seq: int = 16) -> torch.Tensor:
    """Each sequence repeats its first half: the second half is predictable by attention."""
    gen = torch.Generator().manual_seed(0)
    half = torch.randint(1, 16, (batch, seq // 2), generator=gen)
    return torch.cat([half, half], dim=1)


def train_steps(model: Model, steps: int = 60) -> tuple[float, float]:
    data = copy_task()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(steps):
        loss = model(data, return_type="loss")
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, model(data, return_type="loss").item()


@pytest.mark.parametrize("family,name", CASES, ids=[f"{f}-{n}" for f, n in CASES])
def test_variant_trains_hooks_cache_stats(family: str, name: str) -> None:
    cfg = BASE.replace(**{FIELDS[family]: name})
    spec_type = REGISTRIES[family][name]
    assert ModelConfig(**{**cfg.to_dict(), FIELDS[family]: spec_type()}) == cfg  # by object
    model = Model(cfg)
    first, last = train_steps(model)
    assert last < 0.8 * first, f"{family}={name}: loss {first:.3f} -> {last:.3f}"

    model.eval()
    tokens = copy_task(2)
    logits, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(logits, model(tokens), atol=1e-4, rtol=1e-4)
    assert "blocks.1.hook_resid_post" in cache and len(cache) > 10

    supported = model.supported_stats()
    names = [f"{fam}.{s}" for fam, stats in supported.items() for s in sorted(stats)]
    stats = model.run_with_stats(tokens, names, mlp_threshold=0.01)
    torch.testing.assert_close(stats.output, logits, atol=1e-4, rtol=1e-4)
    assert sorted(stats.names) == sorted(names)  # values: tests/core/test_core_stats_complete.py
    assert sum(stats.nonfinite().values()) == 0


def test_unknown_variant_names_list_the_valid_ones() -> None:
    for field in ("attention", "norm", "mlp", "position", "norm_placement", "reparam"):
        with pytest.raises(ValueError, match="Did you mean|Valid names"):
            ModelConfig(**{field: "definitely_not_a_variant"})
