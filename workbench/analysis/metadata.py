"""`ResultMetadata`: where a result came from, enough to reproduce it and to label a figure.

Example:
    >>> meta = ResultMetadata.from_model(model, tokens=tokens, options={"threshold": 0.0},
    ...                                  data_description="val corpus, 32 x 128 tokens")
    >>> meta.config_hash, meta.n_tokens
    ('3f2a9c0d1e4b', 4096)
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from jaxtyping import Int
from torch import Tensor

from workbench.analysis.fingerprint import fingerprint_tokens


def workbench_version() -> str:
    try:
        from importlib.metadata import version

        return version("workbench")
    except Exception:  # not installed (running from a checkout): fall back to the source
        import workbench

        return getattr(workbench, "__version__", "unknown")


def _check_options(options: Any, where: str = "options") -> None:
    """Options must survive JSON as they are: str keys; numbers, strings, lists, dicts."""
    if isinstance(options, dict):
        for key, value in options.items():
            if not isinstance(key, str):
                raise TypeError(f"ResultMetadata.{where}: keys must be strings, got {key!r}")
            _check_options(value, f"{where}[{key!r}]")
    elif isinstance(options, list | tuple):
        for i, value in enumerate(options):
            _check_options(value, f"{where}[{i}]")
    elif isinstance(options, float) and not math.isfinite(options):
        raise ValueError(f"ResultMetadata.{where} is {options}; options must be finite")
    elif not (options is None or isinstance(options, str | int | float | bool)):
        raise TypeError(
            f"ResultMetadata.{where} is a {type(options).__name__}; options must be JSON values "
            "(numbers, strings, booleans, lists, dicts)"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultMetadata:
    """Model, config hash, compute options, data fingerprint and size, seed, version."""

    model_name: str
    config_hash: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_fingerprint: str | None = None
    n_tokens: int | None = None
    data_description: str = ""
    seed: int | None = None
    workbench_version: str = dataclasses.field(default_factory=workbench_version)

    def __post_init__(self) -> None:
        if not isinstance(self.options, dict):
            raise TypeError(f"ResultMetadata.options must be a dict, got {type(self.options)}")
        _check_options(self.options)
        # Lists and tuples are both JSON arrays: store lists so a round trip compares equal.
        object.__setattr__(self, "options", json.loads(json.dumps(self.options)))

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        tokens: Int[Tensor, "batch pos"] | None = None,
        attention_mask: Int[Tensor, "batch pos"] | None = None,
        options: dict[str, Any] | None = None,
        data_description: str = "",
        seed: int | None = None,
    ) -> ResultMetadata:
        """Name and config hash from a workbench `Model` (or anything with a `cfg`); the
        fingerprint and token count from `tokens` (only positions the mask keeps count)."""
        cfg = getattr(model, "cfg", None)
        name = getattr(cfg, "name", None) or type(model).__name__
        config_hash = cfg.config_hash() if hasattr(cfg, "config_hash") else "unknown"
        fingerprint = n_tokens = None
        if tokens is not None:
            fingerprint = fingerprint_tokens(tokens, attention_mask)
            n_tokens = int(tokens.numel() if attention_mask is None else attention_mask.sum())
        return cls(
            model_name=str(name),
            config_hash=config_hash,
            options=dict(options or {}),
            data_fingerprint=fingerprint,
            n_tokens=n_tokens,
            data_description=data_description,
            seed=seed,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
