"""Bigram subnetworks on a model trained on a first-order Markov corpus with a known table:
the found subnetwork must reproduce the TRUE bigram surprisals (the chain's, not our counts)."""

import math

import pytest
import torch
from torch import nn

from workbench.analysis.bigram import BigramResult, compute, matrix_2d, measure
from workbench.analysis.bigram_masks import MaskSettings, MaskTrainer, maskable_weights
from workbench.analysis.bigram_metrics import pearson, random_masks
from workbench.analysis.bigram_targets import BigramTable
from workbench.analysis.result import Result
from workbench.core.config import ModelConfig
from workbench.core.model import Model
from workbench.data.markov import MarkovChain

V = 32


def train_markov_model(chain: MarkovChain, tokens: torch.Tensor, steps: int = 400) -> Model:
    """A 1-layer model trained on the chain's samples (AdamW, linear decay to 0)."""
    torch.manual_seed(0)
    model = Model(ModelConfig(d_vocab=V, d_model=32, n_layers=1, n_heads=2, n_ctx=64, d_mlp=64))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2)
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 2e-2 * (1 - step / steps)
        batch = tokens[torch.randint(len(tokens), (32,), generator=generator)]
        loss = model(batch, return_type="loss")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def markov():
    chain = MarkovChain.random(V, branching=4, seed=0, floor=0.5)
    train, held_out = chain.sample(4096, 33, seed=1), chain.sample(64, 33, seed=2)
    return chain, train_markov_model(chain, train), train, held_out


SETTINGS = MaskSettings(lam=0.5, lr=0.1, beta_growth=1.02, max_steps=600)


@pytest.fixture(scope="module")
def trainer(markov):
    _, model, train, _ = markov
    trainer = MaskTrainer(model, BigramTable.from_tokens(train, V), train, SETTINGS)
    trainer.run(progress=False)
    return trainer


@pytest.fixture(scope="module")
def result(markov, trainer):
    return measure(trainer, markov[3])


def test_subnetwork_reproduces_the_true_bigram_surprisals(markov, trainer, result):
    """r >= 0.9 with the chain's own surprisals, from a plain forward of a model copy
    whose weights were multiplied by the masks by hand (no functional_call)."""
    chain, model, _, held_out = markov
    assert trainer.converged() and trainer.step < SETTINGS.max_steps
    masks = trainer.binary_masks()
    weights = maskable_weights(model)
    with torch.no_grad():
        copy = Model(model.cfg)
        copy.load_state_dict({**model.state_dict(), **{n: weights[n] * masks[n] for n in masks}})
        logp = copy(held_out)[:, :-1].double().log_softmax(-1)
    sub_bits = -logp.gather(-1, held_out[:, 1:, None])[..., 0] / math.log(2)
    true_bits = chain.surprisal_bits(held_out[:, :-1], held_out[:, 1:])
    r = torch.corrcoef(torch.stack([sub_bits.flatten(), true_bits.flatten()]))[0, 1]
    assert r >= 0.9
    kept = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    assert 0 < kept < 0.1  # a small fraction of the block weights
    assert result.kept_total == pytest.approx(kept, rel=1e-12)
    assert result.pearson_r >= 0.9  # against the counted table, as the paper does
    n_params = sum(p.numel() for p in model.parameters())
    assert result.kept_of_all_parameters * n_params == pytest.approx(
        float((result.kept_per_matrix.double() * result.matrix_sizes).sum()), rel=1e-6
    )


def test_ablations_order_and_roundtrip(result, tmp_path):
    ab = result.ablation
    # Keeping the subnetwork beats a random mask of the same size; removing it hurts more
    # than removing a random set of the same size.
    assert ab["full"] <= ab["subnetwork"] < ab["random"]
    assert ab["complement"] > ab["random_complement"]
    assert result.bigram_ce["floor"] <= result.bigram_ce["full"] + 1e-6
    assert result.alignment.shape == (2, 2, 2)
    again = Result.from_json(result.to_json(tmp_path / "bigram.json"))
    assert isinstance(again, BigramResult)
    assert torch.equal(again.kept_per_matrix, result.kept_per_matrix)
    assert again.pearson_r == result.pearson_r


def test_pearson_and_random_masks_match_plain_formulas():
    xs, ys = [1.0, 2.0, 4.0, 3.0], [2.0, 1.0, 5.0, 4.0]
    mx, my = sum(xs) / 4, sum(ys) / 4
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    den = math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    assert pearson(torch.tensor(xs), torch.tensor(ys)) == pytest.approx(num / den, rel=1e-12)
    masks = {"blocks.0.mlp.W_in": torch.rand(8, 16) > 0.7}
    rand = random_masks(masks, seed=3)
    assert int(rand["blocks.0.mlp.W_in"].sum()) == int(masks["blocks.0.mlp.W_in"].sum())


def test_matrix_layout_and_refusals():
    w = torch.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert matrix_2d("blocks.0.attn.W_Q", w)[1].tolist() == [4, 5, 6, 7, 16, 17, 18, 19]
    encoder = Model(ModelConfig(d_model=32, n_layers=1, n_heads=2, causal=False))
    with pytest.raises(ValueError, match="bidirectional"):
        compute(encoder, torch.zeros(2, 8, dtype=torch.long), progress=False)
    with pytest.raises(ValueError, match="no maskable block weights"):
        maskable_weights(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="MaskSettings.lam"):
        MaskSettings(lam=-1.0)


def test_transformer_lens_bridge_converted_model():
    """A TransformerLens 4 bridge, adapted: all-ones masks reproduce the bridge's logits, and
    the search runs on it."""
    pytest.importorskip("transformer_lens")
    import transformer_lens.model_bridge.sources.native  # noqa: F401  (registers boot_native)
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    from workbench.adapters import from_transformer_lens
    from workbench.analysis.bigram_masks import masked_forward

    config = TransformerBridgeConfig(d_model=32, n_layers=2, n_heads=2, d_head=16, d_mlp=64,
                                     d_vocab=V, n_ctx=32, act_fn="relu",
                                     normalization_type="LN", seed=0)  # fmt: skip
    bridge = TransformerBridge.boot_native(config)
    model = from_transformer_lens(bridge)
    tokens = MarkovChain.random(V, branching=4, seed=0).sample(16, 17, seed=1)
    weights = maskable_weights(model)
    assert len(weights) == 12  # Q, K, V, O, in, out in each of 2 layers
    ones = {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    with torch.no_grad():
        torch.testing.assert_close(masked_forward(model, weights, ones, tokens), bridge(tokens),
                                   atol=1e-5, rtol=0)  # fmt: skip
    settings = MaskSettings(lam=1.0, lr=0.05, batch_size=4, max_steps=5)
    result = compute(model, tokens, tokens[:4], settings=settings, progress=False)
    assert result.steps == 5 and len(result.matrix_names) == 12
