"""Top activating contexts against a brute-force Python sort of every cached activation
(`run_with_cache` of the whole corpus at once), with ties, padding and shard merging."""

import math

import pytest
import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis.result import Result
from workbench.analysis.top_contexts import (
    OUTSIDE,
    TopContextsResult,
    collect_top_contexts,
    top_k_rows,
)

K, RADIUS = 5, 2


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=2, n_heads=2, d_vocab=259, n_ctx=64, seed=0,
                  init_range=0.3, mlp="relu")  # fmt: skip
    return Model(ModelConfig(**{**fields, **overrides})).eval()


def corpus(n=6, length=12, seed=0):
    tokens = torch.randint(3, 259, (n, length), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(n, length, dtype=torch.bool)
    mask[1, 8:], mask[4, 3:] = False, False
    return tokens, mask


def brute_force(model, tokens, mask):
    """Per (layer, neuron): the K best (value, seq, pos) by value desc, then seq, pos; and the
    window of each, cut from the plain token lists."""
    _, cache = model.run_with_cache(tokens, attention_mask=mask,
                                    names_filter=lambda n: n.endswith("mlp.hook_post"))  # fmt: skip
    out = {}
    for layer in range(model.cfg.n_layers):
        post = cache[f"blocks.{layer}.mlp.hook_post"]
        for neuron in range(post.shape[-1]):
            entries = [(-float(post[b, t, neuron]), b, t) for b in range(len(tokens))
                       for t in range(tokens.shape[1]) if mask[b, t]]  # fmt: skip
            best = sorted(entries)[:K]
            windows = []
            for _, b, t in best:
                row = [int(x) if mask[b, j] else OUTSIDE for j, x in enumerate(tokens[b])]
                padded = [OUTSIDE] * RADIUS + row + [OUTSIDE] * RADIUS
                windows.append(padded[t : t + 2 * RADIUS + 1])
            out[layer, neuron] = ([-v for v, _, _ in best], [b for _, b, _ in best],
                                  [t for _, _, t in best], windows)  # fmt: skip
    return out


def assert_matches(result: TopContextsResult, expected: dict) -> None:
    for (layer, neuron), (values, seqs, positions, windows) in expected.items():
        where = f"layer {layer} neuron {neuron}"
        torch.testing.assert_close(result.values[layer, neuron].tolist(), values, msg=where)
        assert result.sequence[layer, neuron].tolist() == seqs, where
        assert result.position[layer, neuron].tolist() == positions, where
        assert result.windows[layer, neuron].tolist() == windows, where


def test_matches_brute_force_with_padding_and_ties() -> None:
    model = tiny()
    tokens, mask = corpus()
    state = collect_top_contexts(model, tokens, k=K, window=RADIUS, attention_mask=mask,
                                 batch_size=2, progress=False)  # fmt: skip
    result = state.result(model)
    expected = brute_force(model, tokens, mask)
    zero_ties = sum(1 for v, *_ in expected.values() if v.count(0.0) > 1)
    assert zero_ties > 0, "the corpus should give neurons with tied zero activations"
    assert_matches(result, expected)
    assert result.n_tokens == int(mask.sum())


def test_merge_of_two_halves_equals_whole() -> None:
    model = tiny()
    tokens, mask = corpus()
    kwargs = dict(k=K, window=RADIUS, batch_size=3, progress=False)
    whole = collect_top_contexts(model, tokens, attention_mask=mask, **kwargs)
    first = collect_top_contexts(model, tokens[:3], attention_mask=mask[:3], **kwargs)
    second = collect_top_contexts(model, tokens[3:], attention_mask=mask[3:], sequence_offset=3,
                                  **kwargs)  # fmt: skip
    for merged in (first.merge(second), second.merge(first)):
        for name in ("values", "keys", "windows"):
            assert torch.equal(getattr(merged, name), getattr(whole, name)), name
        assert merged.tokens == whole.tokens and merged.sequences == whole.sequences
    with pytest.raises(ValueError, match="sequence_offset"):
        first.merge(first)


def test_top_k_rows_breaks_ties_by_column() -> None:
    values = torch.tensor([[1.0, 3.0, 3.0, 0.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    best, columns = top_k_rows(values, 3)
    assert columns.tolist() == [[1, 2, 4], [0, 1, 2]]
    assert best.tolist() == [[3.0, 3.0, 3.0], [0.0, 0.0, 0.0]]


def test_fewer_tokens_than_k_leaves_empty_slots_and_json_round_trip(tmp_path) -> None:
    model, _ = workbench.load_default()  # has a tokenizer: the windows get their strings
    tokens = torch.randint(3, 259, (1, 3), generator=torch.Generator().manual_seed(5))
    result = collect_top_contexts(model, tokens, k=4, window=1, progress=False).result(model)
    assert (result.values[..., 3] == -math.inf).all() and (result.sequence[..., 3] == -1).all()
    assert (result.windows[..., 3, :] == OUTSIDE).all()
    loaded = Result.from_json(result.to_json(tmp_path / "top.json"))
    for name in ("values", "sequence", "position", "windows"):
        assert torch.equal(getattr(loaded, name), getattr(result, name)), name
    strs, at = loaded.context(0, 0, 0)
    assert strs[at] == loaded.token_strs[str(int(tokens[0, loaded.position[0, 0, 0]]))]


def test_non_finite_activations_are_refused_naming_the_hook() -> None:
    model = tiny()
    tokens = torch.randint(3, 259, (1, 6), generator=torch.Generator().manual_seed(6))
    poison = ("blocks.1.mlp.hook_pre", lambda t, hook: torch.full_like(t, math.nan))
    with model.hooks(fwd_hooks=[poison]), pytest.raises(ValueError, match="blocks.1.mlp.hook_post"):
        collect_top_contexts(model, tokens, k=2, window=1, progress=False)
