"""Hooks combined with each other, `Model.loss` and `generate`, each against an explicit
computation written here (not a second call of the same code path)."""

from __future__ import annotations

import math

import pytest
import torch

from workbench import Model, ModelConfig

CFG = ModelConfig(d_model=16, n_layers=2, n_heads=2, d_vocab=13, n_ctx=8, seed=2)


@pytest.fixture(scope="module")
def model() -> Model:
    m = Model(CFG).eval()
    with torch.no_grad():  # larger weights than the default init: distinct, peaked logits
        for p in m.parameters():
            p.mul_(8.0)
    return m


def tokens_for(seed: int, shape=(2, 6)) -> torch.Tensor:
    return torch.randint(0, CFG.d_vocab, shape, generator=torch.Generator().manual_seed(seed))


# -- hooks ------------------------------------------------------------------------------------
def test_persistent_and_temporary_hooks_both_fire_and_only_temporary_are_removed(model):
    calls: list[str] = []
    name = "blocks.1.hook_resid_pre"

    def persistent(x, hook):
        calls.append("persistent")

    def temporary(x, hook):
        calls.append("temporary")

    model.add_hook(name, persistent)
    try:
        model.run_with_hooks(tokens_for(0), fwd_hooks=[(name, temporary)])
        assert calls == ["persistent", "temporary"]  # attached order
        calls.clear()
        model(tokens_for(0))
        assert calls == ["persistent"]  # the temporary one is gone, the persistent one stays
        calls.clear()
        with pytest.raises(RuntimeError, match="boom"):
            model.run_with_hooks(tokens_for(0), fwd_hooks=[(name, lambda x, hook: boom())])
        model(tokens_for(0))
        assert calls == ["persistent", "persistent"]  # removal survives an exception too
    finally:
        model.reset_hooks()
    calls.clear()
    model(tokens_for(0))
    assert calls == [] and not any(h.has_hooks for h in model.hook_dict.values())


def boom():
    raise RuntimeError("boom")


def test_persistent_patch_composes_with_a_temporary_patch(model):
    """A persistent x -> 2x and a temporary x -> x + 1 give 2x + 1 (applied in order)."""
    name = "blocks.0.hook_attn_out"
    seen: dict[str, torch.Tensor] = {}
    tokens = tokens_for(1)
    model.run_with_hooks(tokens, fwd_hooks=[(name, lambda x, hook: seen.update(clean=x))])
    model.add_hook(name, lambda x, hook: 2 * x)
    try:
        model.run_with_hooks(
            tokens,
            fwd_hooks=[
                (name, lambda x, hook: x + 1),
                ("blocks.0.hook_resid_mid", lambda x, hook: seen.update(mid=x)),
                ("blocks.0.hook_resid_pre", lambda x, hook: seen.update(pre=x)),
            ],
        )
    finally:
        model.reset_hooks()
    torch.testing.assert_close(seen["mid"], seen["pre"] + 2 * seen["clean"] + 1)


def test_same_function_persistent_and_temporary_stays_once(model):
    name = "blocks.0.hook_resid_post"
    count = []

    def fn(x, hook):
        count.append(1)

    model.add_hook(name, fn)
    try:
        model.run_with_hooks(tokens_for(0), fwd_hooks=[(name, fn)])
        assert len(count) == 2
        count.clear()
        model(tokens_for(0))
        assert len(count) == 1
    finally:
        model.reset_hooks()


def test_reset_hooks_end_false_keeps_temporary_hooks(model):
    name = "blocks.0.hook_resid_post"
    count = []
    try:
        model.run_with_hooks(
            tokens_for(0),
            fwd_hooks=[(name, lambda x, hook: count.append(1))],
            reset_hooks_end=False,
        )
        model(tokens_for(0))
        assert len(count) == 2
    finally:
        model.reset_hooks()


def test_backward_hook_sees_the_gradient_and_is_removed(model):
    name = "blocks.1.hook_resid_post"
    grads: list[torch.Tensor] = []
    tokens = tokens_for(3)
    with torch.enable_grad():
        loss = model.run_with_hooks(
            tokens, return_type="loss", bwd_hooks=[(name, lambda g, hook: grads.append(g))]
        )
        loss.backward()
    assert len(grads) == 1 and grads[0].shape == (2, 6, CFG.d_model)
    assert not model.hook_dict[name].has_hooks
    model.zero_grad()


# -- loss -------------------------------------------------------------------------------------
def explicit_cross_entropy(logits: torch.Tensor, tokens: torch.Tensor) -> float:
    total, count = 0.0, 0
    for b in range(tokens.shape[0]):
        for t in range(tokens.shape[1] - 1):
            row = logits[b, t].double()
            log_z = math.log(sum(math.exp(v - row.max().item()) for v in row.tolist()))
            log_z += row.max().item()
            total += log_z - row[tokens[b, t + 1]].item()
            count += 1
    return total / count


def test_loss_equals_explicit_float64_cross_entropy(model):
    tokens = tokens_for(4, (3, 7))
    with torch.no_grad():
        logits, loss = model(tokens, return_type="both")
        only = model(tokens, return_type="loss")
    expected = explicit_cross_entropy(logits, tokens)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert only.item() == pytest.approx(expected, rel=1e-6)
    assert Model.loss(logits, tokens).item() == pytest.approx(expected, rel=1e-6)


# -- generate ---------------------------------------------------------------------------------
def explicit_generate(model, tokens, n_new, temperature=0.0, seed=0):
    """The definition: feed the last n_ctx tokens, take argmax (or sample softmax(l / T))."""
    gen = torch.Generator().manual_seed(seed)
    out = tokens.clone()
    for _ in range(n_new):
        with torch.no_grad():
            logits = model(out[:, -CFG.n_ctx :])[:, -1].double()
        if temperature == 0:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            probs = torch.exp(logits / temperature - (logits / temperature).logsumexp(-1, True))
            nxt = torch.multinomial(probs.float(), 1, generator=gen)
        out = torch.cat([out, nxt], dim=1)
    return out


@pytest.mark.parametrize("n_new", [1, 9])  # 9: the sequence outgrows n_ctx = 8
def test_greedy_generate_equals_an_argmax_loop(model, n_new):
    prompt = tokens_for(5, (2, 4))
    got = model.generate(prompt, max_new_tokens=n_new)
    expected = explicit_generate(model, prompt, n_new)
    assert torch.equal(got, expected)
    assert torch.equal(got[:, :4], prompt)


def test_sampled_generate_equals_a_seeded_multinomial_loop(model):
    prompt = tokens_for(6, (2, 3))
    got = model.generate(prompt, max_new_tokens=10, temperature=1.5, seed=11)
    assert torch.equal(got, explicit_generate(model, prompt, 10, temperature=1.5, seed=11))
    other = model.generate(prompt, max_new_tokens=10, temperature=1.5, seed=12)
    assert not torch.equal(got, other)  # the seed matters


# -- hook API details (survivors of the mutation run on core/hooks.py) -------------------------
def test_hook_point_directions_default_and_removal_per_direction():
    from workbench.core.hooks import HookPoint

    hp = HookPoint()
    fwd, bwd = (lambda x, hook: None), (lambda g, hook: None)
    hp.add_hook(fwd)  # forward by default
    hp.add_hook(bwd, dir="bwd")
    assert hp.fwd_hooks == [fwd] and hp.bwd_hooks == [bwd]
    hp.remove_hooks("fwd")
    assert hp.fwd_hooks == [] and hp.bwd_hooks == [bwd]
    hp.add_hook(fwd)
    hp.remove_hooks("bwd")
    assert hp.fwd_hooks == [fwd] and hp.bwd_hooks == []
    hp.add_hook(bwd, dir="bwd")
    hp.remove_hooks()
    assert not hp.has_hooks
    with pytest.raises(ValueError, match="'fwd' or 'bwd'"):
        hp.add_hook(fwd, dir="forward")


def test_persistent_backward_hook_fires_on_backward(model):
    name = "blocks.0.hook_resid_mid"
    grads: list[torch.Tensor] = []
    model.add_hook(name, lambda g, hook: grads.append(g), dir="bwd")
    try:
        assert model.hook_dict[name].bwd_hooks and not model.hook_dict[name].fwd_hooks
        with torch.enable_grad():
            model(tokens_for(0), return_type="loss").backward()
    finally:
        model.reset_hooks()
        model.zero_grad()
    assert len(grads) == 1


def test_backward_hooks_need_reset_at_the_end(model):
    with pytest.raises(ValueError, match=r"reset_hooks_end=True"):
        model.run_with_hooks(
            tokens_for(0), bwd_hooks=[("hook_embed", lambda g, hook: None)], reset_hooks_end=False
        )
    assert not any(h.has_hooks for h in model.hook_dict.values())
