"""Configs are validated field by field; hook replacements are checked (seeded random cases).

Valid random configs survive a JSON round trip and build a model that runs; random bad values
(the wrong type, out of range, not finite) are refused with the field's path and the value in
the message; random wrong-shape or wrong-dtype hook replacements are refused at every hook
point, naming the hook.
"""

import json
import math
import random
import types
import typing

import pytest
import torch

import workbench.variants  # noqa: F401  (registers every variant)
from workbench import Model, ModelConfig
from workbench.core.registry import REGISTRIES, VariantSpec
from workbench.core.validate import Bound, ConfigError, field_hints
from workbench.programs.model import ProgramConfig
from workbench.train import TrainConfig

CAUSAL_ONLY = {
    "deltanet",
    "linear",
    "mamba",
    "glu_mixer",
    "retention",
    "gla",
    "mamba2",
}  # mixers that need causal=True
RNG_SEEDS = range(12)


def _random_shape(rng: random.Random) -> dict:
    n_kv = rng.choice([1, 2])
    n_heads = n_kv * rng.choice([1, 2])
    return dict(
        d_model=n_heads * rng.choice([4, 8]),
        n_heads=n_heads,
        n_kv_heads=n_kv,
        n_layers=rng.randint(1, 2),
        d_vocab=rng.randint(5, 40),
        n_ctx=rng.randint(8, 24),
        d_mlp=rng.choice([None, 16, 24]),
        eps=rng.choice([1e-5, 1e-6, 1]),  # an int is a valid float
        init_range=rng.uniform(0.005, 0.05),
        seed=rng.randint(0, 10_000),
        tied_embeddings=rng.random() < 0.5,
        attn_bias=rng.random() < 0.5,
        name=f"random-{rng.random():.6f}",
    )


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_random_valid_config_round_trips_through_json_and_runs(seed) -> None:
    rng = random.Random(seed)
    variants = {family: rng.choice(REGISTRIES[family].names()) for family in REGISTRIES}
    variants["norm_placement"] = variants.pop("placement")
    causal = variants["attention"] in CAUSAL_ONLY or rng.random() < 0.7
    if variants["mlp"] == "topk_relu":
        variants["mlp"] = {"name": "topk_relu", "k": rng.randint(1, 8)}
    cfg = ModelConfig(**_random_shape(rng), **variants, causal=causal)
    while _refused_at_build(cfg):  # combinations refused, clearly, when the model is built
        cfg = cfg.replace(position=rng.choice(REGISTRIES["position"].names()),
                          block=rng.choice(REGISTRIES["block"].names()))  # fmt: skip
    back = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.config_hash() == cfg.config_hash()
    tokens = torch.randint(
        0, cfg.d_vocab, (2, min(cfg.n_ctx, 6)), generator=torch.Generator().manual_seed(seed)
    )
    logits = Model(cfg)(tokens)
    assert logits.shape == (2, tokens.shape[1], cfg.d_vocab) and logits.isfinite().all()


def _refused_at_build(cfg: ModelConfig) -> bool:
    try:
        Model(cfg)
    except ValueError as err:
        # mixers without scores refuse positions they would ignore; parallel blocks post-LN
        if "silently ignored" in str(err) or "needs norms on the sublayer inputs" in str(err):
            return True
        raise
    return False


def _strip(hint):
    bounds = []
    while typing.get_origin(hint) is typing.Annotated:
        bounds += [b for b in hint.__metadata__ if isinstance(b, Bound)]
        hint = hint.__origin__
    return hint, bounds


def _bad_values(hint) -> list:
    """Values that `hint` does not allow, whatever the validator does: the outside rule is
    Python's type semantics (bool is no int, str is no number) plus the declared bounds."""
    hint, bounds = _strip(hint)
    args = typing.get_args(hint)
    optional = type(None) in args
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        plain = [a for a in args if a is not type(None)]
        hint, bounds = _strip(plain[0]) if len(plain) == 1 else (plain, [])
    if isinstance(hint, list):  # `int | tuple[int, ...]`: only values bad for every member
        return ["1", 1.5, True]
    bad = [] if optional else [None]
    if hint is bool:
        return [*bad, "false", 0, 1.0]
    if hint is int:
        bad += ["3", 3.0, True, [3]]
        bad += [b.lo - (0 if not b.lo_closed else 1) for b in bounds if b.lo is not None]
        return bad
    if hint is float:
        bad += ["1e-5", True, math.nan, math.inf, -math.inf]
        for b in bounds:
            bad += [b.lo] if b.lo is not None and not b.lo_closed else []
            bad += [b.lo - 0.5] if b.lo is not None else []
            bad += [b.hi + 0.5] if b.hi is not None else []
        return bad
    if hint is str:
        return [*bad, 3, b"bytes"]
    if typing.get_origin(hint) is typing.Literal:
        return [*bad, "not-a-choice", 99, True]
    if typing.get_origin(hint) is tuple or hint is tuple:
        return [*bad, "ab", 3]
    return bad


def _specs() -> list[type[VariantSpec]]:
    out = [spec for registry in REGISTRIES.values() for spec in map(registry.__getitem__,
           registry.names())]  # fmt: skip
    return [spec for spec in out if field_hints(spec)]


def _field_cases() -> list:
    cases = []
    for cls in (ModelConfig, TrainConfig, ProgramConfig, *_specs()):
        for name, hint in field_hints(cls).items():
            cases += [(cls, name, bad) for bad in _bad_values(hint)]
    return cases


def _build(cls, name: str, value):
    if cls is ProgramConfig:
        fields = {"vocab": ("<s>", 1, 2), "labels": (0, 1), "max_len": 4, name: value}
        return ProgramConfig(**fields)
    if cls in (ModelConfig, TrainConfig):
        return cls(**{name: value})
    family = "norm_placement" if cls.family == "placement" else cls.family
    return ModelConfig.from_dict({family: {"name": cls.name, name: value}})


FIELD_CASES = _field_cases()


@pytest.mark.parametrize("seed", range(4))
def test_random_bad_field_values_are_refused_naming_the_field(seed) -> None:
    rng = random.Random(seed)
    cases = rng.sample(FIELD_CASES, k=min(60, len(FIELD_CASES)))
    for cls, name, value in cases:
        path = f".{name}"
        with pytest.raises(ConfigError) as caught:
            _build(cls, name, value)
        message = str(caught.value)
        assert path in message and repr(value) in message, (cls.__name__, name, message)


def test_every_field_has_bad_values_and_every_case_is_refused() -> None:
    assert len(FIELD_CASES) > 150
    for cls, name, value in FIELD_CASES:
        with pytest.raises(ConfigError, match=rf"\.{name}\b"):
            _build(cls, name, value)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"causal": "false"}, "ModelConfig.causal must be a bool"),
        ({"eps": "1e-5"}, "ModelConfig.eps must be a float, got '1e-5'"),
        ({"attention": {"name": "sigmoid", "bias": "abc"}}, "ModelConfig.attention.bias"),
        ({"n_heads": 4.0}, "ModelConfig.n_heads must be an int, got 4.0"),
        ({"n_layers": True}, "ModelConfig.n_layers must be an int, got True"),
        ({"d_head": 0}, "ModelConfig.d_head must be > 0, got 0"),
        ({"d_model": 30, "n_heads": 4}, "d_model \\(30\\) must be divisible by"),
        ({"n_heads": 4, "n_kv_heads": 3}, "multiple of ModelConfig.n_kv_heads"),
        ({"mlp": {"name": "moe", "k": 5, "n_experts": 4}}, "ModelConfig.mlp \\(moe\\)"),
        ({"attention": {"name": "sigmoid", "bais": 1.0}}, "Did you mean: bias"),
        ({"attention": {"bias": 1.0}}, "needs a string 'name'"),
        ({"position": "rotray"}, "ModelConfig.position: unknown .* Did you mean: rotary"),
        ({"norm": 3}, "ModelConfig.norm must be a norm variant name"),
    ],
)
def test_reported_config_mistakes_are_refused(fields, message) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_dict(fields)


@pytest.mark.parametrize("data", [[1, 2], "d_model", 3, None])
def test_a_config_that_is_not_a_json_object_is_refused(data) -> None:
    for cls in (ModelConfig, TrainConfig, ProgramConfig):
        with pytest.raises(ConfigError, match="must be a JSON object"):
            cls.from_dict(data)


def test_normalized_values_keep_equality_and_json() -> None:
    cfg = TrainConfig.from_dict({"betas": [0.9, 0.99], "lr": 1, "checkpoint_dir": None})
    assert cfg.betas == (0.9, 0.99) and isinstance(cfg.lr, float)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert ModelConfig(eps=1) == ModelConfig(eps=1.0)


# -- hook replacements ----------------------------------------------------------------------
HOOK_CFG = ModelConfig(d_model=16, n_layers=2, n_heads=2, d_vocab=20, n_ctx=8)


@pytest.fixture(scope="module")
def hook_model() -> Model:
    return Model(HOOK_CFG).eval()


@pytest.fixture(scope="module")
def hook_models(hook_model) -> list[Model]:
    """Between them, every hook point fires (rotary positions add `hook_rot_q|k`)."""
    return [hook_model, Model(HOOK_CFG.replace(position="rotary")).eval()]


def _wrong_replacements(t: torch.Tensor, rng: random.Random) -> list[tuple[str, torch.Tensor]]:
    dim = rng.randrange(t.ndim)
    other = torch.float64 if t.dtype != torch.float64 else torch.float32
    return [
        ("shape", t.narrow(dim, 0, t.shape[dim] - 1) if t.shape[dim] > 1 else t[None]),
        ("shape", torch.cat([t, t.narrow(dim, 0, 1)], dim=dim)),
        ("shape", t.unsqueeze(rng.randrange(t.ndim + 1))),
        ("dtype", t.to(other)),
        ("dtype", t.to(torch.int64 if t.dtype != torch.int64 else torch.int32)),
    ]


@pytest.mark.parametrize("seed", range(3))
def test_wrong_hook_replacements_are_refused_at_every_hook_point(hook_models, seed) -> None:
    rng = random.Random(seed)
    tokens = torch.randint(0, 20, (2, 5), generator=torch.Generator().manual_seed(seed))
    checked = set()
    for model in hook_models:
        for name in model.hook_names():
            captured = {}

            def capture(t, hook, captured=captured):
                captured["t"] = t

            model.run_with_hooks(tokens, fwd_hooks=[(name, capture)])
            if "t" in captured:  # the point fires in this model
                _check_refusals(model, name, tokens, captured["t"], rng)
                checked.add(name)
    assert checked == {n for model in hook_models for n in model.hook_names()}


def _check_refusals(model: Model, name: str, tokens, original, rng: random.Random) -> None:
    for kind, bad in _wrong_replacements(original, rng):

        def swap(t, hook, bad=bad):
            return bad

        error = ValueError if kind == "shape" else TypeError
        with pytest.raises(error, match=rf"'swap' \(.*\) on '{name}'.*expected") as caught:
            model.run_with_hooks(tokens, fwd_hooks=[(name, swap)])
        expected = list(original.shape) if kind == "shape" else original.dtype
        assert str(expected) in str(caught.value)
    assert not any(h.has_hooks for h in model.hook_dict.values())


def test_hook_returning_a_non_tensor_is_refused(hook_model) -> None:
    tokens = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(TypeError, match=r"<lambda> \(test_core_validation.py:\d+\) on 'hook_emb"):
        hook_model.run_with_hooks(tokens, fwd_hooks=[("hook_embed", lambda t, hook: 3)])


def test_hook_replacement_on_another_device_is_refused(hook_model) -> None:
    """The meta device stands in for a GPU: same shape and dtype, another device."""
    tokens = torch.zeros(1, 3, dtype=torch.long)

    def elsewhere(t, hook):
        return torch.empty_like(t, device="meta")

    with pytest.raises(TypeError, match=r"'elsewhere' .* on 'blocks.1.hook_resid_mid'.*on meta"):
        hook_model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_resid_mid", elsewhere)])


def test_valid_replacement_and_none_still_work(hook_model) -> None:
    tokens = torch.randint(0, 20, (1, 6), generator=torch.Generator().manual_seed(0))
    clean = hook_model(tokens)
    same = hook_model.run_with_hooks(
        tokens,
        fwd_hooks=[
            (lambda n: True, lambda t, hook: t.clone()),
            ("hook_embed", lambda t, hook: None),
        ],
    )
    torch.testing.assert_close(same, clean)  # hooked patterns take the eager path: ~1e-8 off
    zeroed = hook_model.run_with_hooks(
        tokens, fwd_hooks=[("ln_final.hook_normalized", lambda t, hook: torch.zeros_like(t))]
    )  # logits are then the unembedding bias alone: an outside formula
    torch.testing.assert_close(zeroed, hook_model.unembed.b_U.expand_as(zeroed))


def test_integral_non_int_values_become_plain_ints() -> None:
    """numpy / torch integers are accepted for int fields and stored as Python ints."""
    import numpy as np

    from workbench.core.validate import check_value

    for value in (np.int64(4), torch.tensor(4).numpy()[()]):
        out = check_value(value, int, "ModelConfig.n_layers")
        assert type(out) is int and out == 4
    cfg = ModelConfig(d_model=32, n_layers=np.int64(2), n_heads=4, d_vocab=50, n_ctx=16)
    assert type(cfg.n_layers) is int and cfg.n_layers == 2
