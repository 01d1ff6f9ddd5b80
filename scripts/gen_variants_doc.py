"""Generate docs/variants.md from the variant registries, with a quick run of each variant.

Every claim in the table comes from this run, not from a hand-written list: each variant
(and a few combinations) is built into a tiny model (d_model 32, 2 layers, 4 heads), trained
for `--steps` AdamW steps on a copy task, cached with `run_with_cache`, and asked for every
statistic it says it supports. "trains" means the loss fell below 0.8x its first value.

Usage: python scripts/gen_variants_doc.py [--out docs/variants.md] [--steps 60]
The forward-speed table between the `variant_speed` markers is kept as it is; regenerate it
with `python benchmarks/variant_speed.py --write-doc docs/variants.md`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import torch
from tqdm.auto import tqdm

from workbench import Model, ModelConfig
from workbench.core.registry import REGISTRIES
from workbench.variants.combinations import COMBINATIONS
from workbench.variants.looped import Looped

MLP_THRESHOLD = 0.01  # activations without exact zeros (GELU, GLU) need one; as the tests
FIELDS = {"attention": "attention", "norm": "norm", "placement": "norm_placement",
          "mlp": "mlp", "position": "position", "reparam": "reparam",
          "block": "block"}  # fmt: skip
BASE = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=16, n_ctx=32, seed=0)


def copy_task(batch: int = 16, seq: int = 16) -> torch.Tensor:
    half = torch.randint(1, 16, (batch, seq // 2), generator=torch.Generator().manual_seed(0))
    return torch.cat([half, half], dim=1)


def train(model: Model, steps: int) -> tuple[float, float]:
    data, opt = copy_task(), torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(steps):
        loss = model(data, return_type="loss")
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, model(data, return_type="loss").item()


def fired_hooks(model: Model, family: str) -> str:
    """Hook points of block 0 (and the model level) that this family owns and that fired."""
    _, cache = model.run_with_cache(copy_task(2))
    prefix = {"attention": ("blocks.0.attn.",), "mlp": ("blocks.0.mlp.",),
              "norm": ("blocks.0.ln1.",), "placement": ("blocks.0.ln", "ln_final."),
              "position": ("hook_pos_embed", "blocks.0.attn.hook_rot_"),
              "block": ("blocks.0.hook_resid_", "blocks.0.layout.")}.get(family)  # fmt: skip
    if prefix is None:  # a reparam changes weights, not hooks
        looped = isinstance(model.cfg.reparam, Looped)
        return "unchanged; `blocks.{i}.*` = iteration i" if looped else "unchanged"
    names = [n.removeprefix("blocks.0.") for n in cache if n.startswith(prefix)]
    names = [re.sub(r"experts\.\d+\.", "experts.{e}.", n) for n in names]
    return ", ".join(f"`{n}`" for n in dict.fromkeys(names)) or "none"


def stats_cell(model: Model) -> str:
    """Run every supported statistic; for mixers without a kernel check the error names it."""
    supported = model.supported_stats()
    names = [f"{fam}.{s}" for fam, stats in supported.items() for s in sorted(stats)]
    stats = model.run_with_stats(copy_task(2), names, mlp_threshold=MLP_THRESHOLD)
    assert sum(stats.nonfinite().values()) == 0, stats.nonfinite()
    parts = []
    for fam in ("attn", "mlp"):
        got = sorted({n.split(".", 1)[1] for n in stats.names if n.startswith(fam)})
        parts.append(f"{fam}: {', '.join(got)}" if got else f"{fam}: none")
    partial = sorted({f"{f}.{s}" for layer in model.layer_stats() for f in layer
                      for s in layer[f]} - set(names))  # fmt: skip
    if partial:  # a hybrid: statistics some layers give, keyed by layer
        some = model.run_with_stats(copy_task(2), partial)
        shown = [f"{name} (layers {list(some.layers(name))})" for name in partial]
        parts.append("some layers: " + ", ".join(shown))
        return "; ".join(parts)
    if not supported["attn"]:
        try:
            model.run_with_stats(copy_task(2), ["attn.entropy"])
        except ValueError as err:
            assert "attn.entropy" in str(err)
            parts[0] += " (asking raises, naming the statistic)"
    return "; ".join(parts)


def triton_cell(model: Model, family: str) -> str:
    if family != "attention":
        return "no"
    # Every attention kernel kind has a Triton backend (kernels/attention/<kind>/triton.py).
    kernel = getattr(model.blocks[0].attn, "kernel", None)
    return f"yes (`{kernel.name}`, stats path)" if kernel is not None else "no"


def diagram_cell(model: Model) -> str:
    """Whether `diagrams.compute` draws the model with a rule for every box (a module class
    without a rule becomes a box of kind "unknown")."""
    from workbench.analysis import diagrams

    root = diagrams.compute(model, seq_len=8).root
    kinds = [node.kind for node in root.walk()]
    unknown = kinds.count("unknown")
    return f"yes ({len(kinds)} nodes)" if not unknown else f"NO ({unknown} unknown)"


def probe(cfg: ModelConfig, family: str, steps: int) -> dict[str, str]:
    model = Model(cfg)
    first, last = train(model, steps)
    model.eval()
    return {
        "trains": f"{'yes' if last < 0.8 * first else 'NO'} ({first:.2f} -> {last:.2f})",
        "hooks": fired_hooks(model, family),
        "stats": stats_cell(model),
        "triton": triton_cell(model, family),
        "diagram": diagram_cell(model),
    }


def options(spec_type) -> str:
    fields = [f"{f.name}={f.default!r}" for f in dataclasses.fields(spec_type)]
    return ", ".join(fields) or "-"


def variant_rows(steps: int) -> list[str]:
    rows = ["| family | name | options (defaults) | paper | trains (loss) | hook points "
            "(block 0) | stats on CPU | Triton kernel | circuit diagram |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    cases = [(fam, name) for fam, reg in REGISTRIES.items() for name in reg.names()]
    for family, name in tqdm(cases, desc="probing variants"):
        spec_type = REGISTRIES[family][name]
        cell = probe(BASE.replace(**{FIELDS[family]: name}), family, steps)
        rows.append(
            f"| {family} | `{name}` | {options(spec_type)} | {spec_type.paper or '-'} | "
            f"{cell['trains']} | {cell['hooks']} | {cell['stats']} | {cell['triton']} | "
            f"{cell['diagram']} |"
        )
    return rows


def combination_rows(steps: int) -> list[str]:
    rows = ["| combination | trains (loss) | stats on CPU |", "|---|---|---|"]
    for label, changes in tqdm(COMBINATIONS.items(), desc="probing combinations"):
        cell = probe(BASE.replace(**changes), "combination", steps)
        shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        rows.append(f"| `{label}`: {shown} | {cell['trains']} | {cell['stats']} |")
    return rows


INTRO = """# Architecture variants

Generated by `scripts/gen_variants_doc.py` from the registries in `workbench.core.registry`
(do not edit by hand). Every row below was measured by that script's own run: a tiny model
(d_model 32, 2 layers, 4 heads, vocabulary 16) with only that variant changed was trained for
{steps} AdamW steps (lr 1e-2) on one fixed batch of a copy task (16 sequences, each repeating
its first half), then run through `run_with_cache` and `run_with_stats` with every statistic
it supports (MLP firing threshold 0.01). "trains" = the loss fell below 0.8x its first value:
the optimization works. On one fixed batch a model can also lower the loss by memorizing, so
this does not show that a mixer solves copying (the GLU mixer, which mixes no tokens, still
memorizes the batch).
"hook points" = the hooks of the variant's component in block 0 that fired.
"stats on CPU" = what `run_with_stats` returned
(attention statistics come from the CPU kernels in `workbench.kernels.attention`;
MLP statistics from `workbench.core.stats.mlp_stats`). "Triton kernel" = the attention
statistics path has a Triton kernel of that kind (tested under `TRITON_INTERPRET=1`; the GPU
tests exist but no GPU has run them yet); the plain forward of every variant is PyTorch.
"circuit diagram" = `workbench.analysis.diagrams.compute` draws the model with a drawing rule
for every box (docs/diagrams.md), with the diagram's number of nodes.

## Choosing a variant

```python
from workbench import Model, ModelConfig
from workbench.variants.moe import TopKMoE

cfg = ModelConfig(
    attention="sigmoid",
    norm="crmsnorm",
    norm_placement="peri",
    mlp=TopKMoE(n_experts=8, k=2),
    position={{"name": "comrope", "block_size": 4}},
)
Model(cfg)
ModelConfig(attention="sigmod")
# ValueError: Unknown attention variant 'sigmod'. Did you mean: sigmoid?

# A hybrid: windowed softmax every 2nd layer among DeltaNet layers, rotary only there.
from workbench.core.schedule import every

local = {{"name": "softmax", "window": 128, "global_tokens": 1}}
hybrid = ModelConfig(
    n_layers=4,
    attention=every(2, local, "deltanet", n_layers=4),
    position=every(2, "rotary", "none", n_layers=4),
)
```

A name takes the defaults; a spec object or a dict (`{{"name": ..., **options}}`, the JSON form
`ModelConfig.to_dict()` writes) sets options.

## Every variant

"""

NOTES = """
## Notes on hook names and extras

- Looped transformer (`reparam="looped"`, option `period`): the model has `n_layers` blocks
  whose weights are tied to those of block `i % period` after init, so `blocks.{{i}}.*` are the
  hooks of iteration `i` and per-layer analyses work per iteration. Tied weights are stored
  once (`parameters()`, `state_dict()`, checkpoints). It takes the `reparam` field, so it does
  not combine with `sigma_reparam` through the config.
- Mixture of experts (`mlp="moe"`): `mlp.hook_router_logits` `[batch, pos, expert]`,
  `mlp.hook_router_choice` `[batch, pos, k]` (int64, patchable), `mlp.hook_router_weights`,
  `mlp.experts.{{e}}.hook_pre|hook_post` `[routed tokens, d_mlp]`. After a forward,
  `block.mlp.load_balancing_loss` (Switch Transformer form, 1.0 when balanced) and
  `workbench.variants.moe.moe_load_balancing_loss(model)` (sum over layers) hold the
  auxiliary loss with its gradient. `mlp.nonzero_frac` counts over the k routed experts'
  neurons; `mlp.fire_count` has `n_experts * d_mlp` entries.
- Mixers without an attention pattern have no `hook_pattern`. Those linear in their values
  (linear attention, DeltaNet, Mamba, retention, GLA, Mamba-2) have a token-mixing matrix M
  with y == M v (tested), built only when asked for: `run_with_stats` offers
  `attn.mix_entropy`, `attn.mix_max_weight` and `attn.mix_sink`, computed from |M| normalized
  per row (`workbench.variants.mixing_stats`), named apart from softmax attention's
  statistics because M can be negative and its rows need not sum to 1. Where v sits: the
  pre-norm output of linear attention and retention/GLA; Mamba mixes each channel on its own
  (one M per channel of d_inner, so `[batch, d_inner, pos]`, D on the diagonal, v = the conv
  output); Mamba-2's v is Delta_t x_t. The GLU and pool mixers and the eager-only attention
  kinds (power-softmax, top-k, ProbSparse) offer no `attn.*` statistic: asking raises an error
  that names it. ALiBi has no hook of its own: its bias is inside `attn.hook_attn_scores`.
- Retention, GLA and Mamba-2 share one decayed linear-attention core
  (`workbench.variants.decay_scan`) with `mode="parallel" | "recurrent" | "chunked"`;
  `hook_decay` holds the log-decay. Collapsed attention: `collapse_model(model)` in
  `workbench.variants.attention_collapsed` converts a softmax model. MatFormer:
  `blocks[l].mlp.set_width(m)`; Pattention: `blocks[l].mlp.grow(n)`; dense-to-sparse MoE:
  `blocks[l].mlp.set_temperature(t)`; looped: `Looped(period, prefix, suffix)`; Mamba:
  `scan="parallel"` (associative scan), `bidirectional=True` (for causal=False models).
- Pre-LN -> Pre-RMSNorm -> Pre-CRMSNorm conversion: `workbench.variants.norm_conversion`.
- Block layout (`block="sequential"` default, `"parallel"` as GPT-J/GPT-NeoX/PaLM): the same
  hooks in both. In a parallel block attention and MLP both read `hook_resid_pre`;
  `hook_resid_mid` holds `resid_pre + attn_out` and `hook_resid_post = resid_mid + mlp_out`,
  so patching `hook_resid_mid` changes the output but not the MLP's input.
- `block="macaron"`: x + ffn/2, + attn, + mlp/2. The first half-FFN is
  `blocks.{{l}}.layout.mlp` (hooks `layout.mlp.hook_pre|post`, `layout.hook_mlp_out` = what
  it adds, `layout.hook_resid` = the stream attention reads); `hook_mlp_out` holds the
  halved second FFN, so `resid_post = resid_mid + mlp_out`. `mlp.*` statistics describe
  `blocks.{{l}}.mlp` only. `block="gated_residual"` (GTrXL): `layout.attn_gate.hook_z` and
  `layout.mlp_gate.hook_z` are the update gates; `hook_attn_out`/`hook_mlp_out` hold the
  sublayer outputs before ReLU and gate, so `resid_mid != resid_pre + attn_out` there. Both
  need norms on the sublayer inputs (pre, peri or none).
- `attention="identity"`: an MLP-only layer. No `attn.*` hooks and no `ln1`;
  `hook_attn_out` fires with zeros (patching it still adds to the stream).
- Per-layer schedules: `attention`, `mlp`, `norm`, `block` and `position` take a list of
  `n_layers` specs (`ModelConfig(attention=["deltanet", "softmax"])`; helpers `every`,
  `cycle` in `workbench.core.schedule`); a position list takes relative schemes only (rotary,
  ALiBi, none: e.g. `position=["none", "rotary"]` for a Mamba + attention hybrid);
  `norm_placement` and `reparam` stay model-wide.
  `workbench info` prints each layer's variants. `run_with_stats` on a hybrid returns a
  statistic for the layers that have it: `stats.absent` names the others, `stats[name]`
  refuses to stack across the gap, `stats.by_layer(name)` keys the values by layer.
- Local attention masks on softmax, sigmoid, clipped, gated and power_softmax: options
  `window`, `shift` (blocked windows; alternate 0 and window // 2 by schedule for shifted
  windows), `dilation`, `global_tokens`. Eager, SDPA, the chunked and Triton kernels honour
  them; the kernels visit only the key tiles a window reaches.

## The papers' claims, as tests

{claims}

## Forward speed on CPU

Made by `benchmarks/variant_speed.py`. Softmax runs PyTorch's fused SDPA kernel, which never
holds the [T, T] pattern; sigmoid and clipped attention run their chunked instrumented kernels
at inference (no [T, T] tensor either; the eager path, which does build it, runs when a hook
asks for scores or pattern, for training and with padding); gated attention runs SDPA
and then its gate; power-softmax materializes the pattern, and so does linear attention in its
parallel form. A
ratio that shrinks as T grows marks a mixer whose cost grows more slowly than attention's:
the chunked forms of linear attention and DeltaNet, the recurrent loops (linear attention,
Mamba's reference scan; Python-level and slow per step) and the GLU mixer, which mixes no
tokens at all.

"""


MIXERS2_NOTE = """Made by `benchmarks/variant_speed.py --set mixers2`. Top-k softmax and ProbSparse
materialize the [T, T] scores and run several [T, T] passes (eager path, no kernel), hence
their steep growth with T; the machine's load average was near 10 (2 cores shared by
several jobs), so single timings vary by 2x or more between runs.
Mamba's parallel (associative) scan is slower than its sequential loop on one CPU thread:
it makes log2(T) passes over the whole [T, d_inner, d_state] state, which pays off only on
parallel hardware.
"""

CLAIMS = [
    ("Pre-LN, Pre-RMSNorm and Pre-CRMSNorm give the same logits after conversion "
     "(Jiang et al. 2023)", "claims::test_pre_ln_equals_pre_rmsnorm_equals_pre_crmsnorm"),
    ("DeltaNet chunked (WY) form == recurrent form",
     "claims::test_deltanet_chunked_equals_recurrent"),
    ("linear attention parallel == recurrent",
     "claims::test_linear_attention_parallel_equals_recurrent"),
    ("RoPE scores depend only on relative position",
     "claims::test_rope_scores_depend_only_on_relative_position"),
    ("ComRoPE scores depend only on relative position; its rotations are orthogonal",
     "extra::test_comrope_scores_depend_only_on_relative_position"),
    ("ComRoPE with 2x2 blocks and no noise is RoPE",
     "extra::test_comrope_with_2x2_blocks_and_no_noise_is_rope"),
    ("sigmaReparam: the effective weight's spectral norm equals gamma",
     "claims::test_sigma_reparam_spectral_norm_equals_gamma"),
    ("sigmoid attention with b = -log n keeps row mass O(1) as n grows (at init)",
     "claims::test_sigmoid_row_mass_stays_order_one_as_n_grows"),
    ("power-softmax = even power of the scores, normalized over the visible keys",
     "extra::test_power_softmax_is_the_even_power_normalized_over_visible_keys"),
    ("PolyReLU / PolyNorm follow their formula", "extra::test_poly_activation_matches_its_formula"),
    ("MoE output = mixture of the chosen experts",
     "extra::test_moe_output_equals_the_dense_mixture_of_the_chosen_experts"),
    ("MoE load-balancing loss is 1.0 for a uniform router and has a gradient",
     "extra::test_moe_load_balancing_loss_is_one_when_uniform_and_has_a_gradient"),
    ("a looped model applies one block n times",
     "extra::test_looped_model_applies_one_block_n_times_with_per_iteration_hooks"),
    ("parallel block: y = x + attn(ln1 x) + mlp(ln2 x); resid_mid = x + attn_out",
     "layout::test_parallel_block_is_x_plus_attn_plus_mlp_of_the_same_input"),
    ("rotary_linear (position interpolation) = rotary at position / factor",
     "layout::test_rotary_linear_is_rotary_at_position_over_factor"),
    ("rotary_llama3 stretches long wavelengths by factor and keeps short ones",
     "layout::test_rotary_llama3_scales_long_wavelengths_and_keeps_short_ones"),
    ("retention / GLA: parallel == recurrent == chunkwise (a plain float64 loop as reference)",
     "decay::test_parallel_recurrent_chunked_equal_the_plain_recurrence"),
    ("retention / GLA with decay 1 is linear attention",
     "decay::test_decay_one_reduces_to_linear_attention"),
    ("Mamba-2: quadratic masked form == scan == chunked SSD",
     "decay::test_mamba2_forms_equal_the_plain_ssm_scan"),
    ("token-mixing matrix: y == M v (retention, GLA, Mamba-2)",
     "decay::test_decay_mixing_matrix_gives_the_output"),
    ("token-mixing matrix of DeltaNet = the product formula; y == M v",
     "decay::test_deltanet_mixing_matrix_is_the_product_formula_and_gives_the_output"),
    ("token-mixing matrix of Mamba (per channel): y == M u",
     "decay::test_mamba_channel_matrix_gives_the_sequential_scan"),
    ("Mamba: parallel (associative) scan == sequential scan",
     "decay::test_mamba_parallel_scan_equals_the_sequential_scan"),
    ("bidirectional Mamba = forward scan + reversed scan",
     "decay::test_bidirectional_mamba_is_the_forward_plus_the_reversed_scan"),
    ("attn.mix_* statistics are those of abs(M), row-normalized (retention)",
     "decay::test_retention_stats_are_computed_from_its_mixing_matrix"),
    ("top-k softmax / ProbSparse with k or u >= number of keys == softmax",
     "sparse::test_k_or_u_at_least_the_number_of_keys_equals_softmax"),
    ("ProbSparse: lazy queries output the mean of the visible values",
     "sparse::test_probsparse_lazy_queries_take_the_mean_of_the_visible_values"),
    ("collapsed attention: converting a factored model keeps the logits",
     "sparse::test_converting_a_factored_model_to_collapsed_heads_keeps_the_logits"),
    ("pool mixer: pool size 1 gives zero output", "sparse::test_pool_size_one_gives_zero_output"),
    ("MatFormer: width m == full MLP with later neurons zeroed",
     "mlps::test_matformer_width_equals_the_full_mlp_with_later_neurons_zeroed"),
    ("Pattention: zero-initialized added tokens leave outputs unchanged",
     "mlps::test_pattention_zero_initialized_new_tokens_leave_outputs_unchanged"),
    ("CRATE: the ISTA block is one proximal-gradient step",
     "mlps::test_ista_block_equals_one_proximal_gradient_step"),
    ("AlgoFormer: untied prefix/suffix blocks around the loop",
     "mlps::test_algoformer_loop_has_untied_prefix_and_suffix_blocks"),
    ("EvoMoE: the dense-to-sparse gate goes from a dense mixture to top-1",
     "mlps::test_dense_to_sparse_gate_goes_from_a_dense_mixture_to_top1"),
    ("every variant trains, fires its hooks, caches, gives or clearly refuses statistics",
     "all::test_variant_trains_hooks_cache_stats"),
    ("a per-layer schedule of identical specs is the plain config (same logits)",
     "schedule::test_a_schedule_of_identical_specs_is_the_plain_config"),
    ("identity mixers everywhere = an MLP-only model computed by hand",
     "schedule::test_all_identity_mixers_equal_a_manual_mlp_only_model"),
    ("macaron = half FFN, attention, half FFN (by hand)",
     "block_layouts::test_macaron_is_half_ffn_attention_half_ffn"),
    ("GTrXL gate: a large gate bias makes every block the identity",
     "block_layouts::test_a_large_gate_bias_makes_each_block_the_identity"),
    ("a window covering the sequence is full attention",
     "local::test_a_window_covering_the_sequence_is_full_attention"),
    ("a token outside the receptive field of L windowed layers changes nothing, exactly",
     "local::test_tokens_outside_the_receptive_field_change_nothing"),
]  # fmt: skip


def claims_table() -> str:
    rows = ["| claim | test (tests/variants/) |", "|---|---|"]
    tests = Path(__file__).resolve().parents[1] / "tests" / "variants"
    for claim, test in CLAIMS:
        file, name = test.split("::")
        if f"def {name}(" not in (tests / f"test_variants_{file}.py").read_text():
            raise RuntimeError(f"The claims table names a test that does not exist: {test}")
        rows.append(f"| {claim} | `test_variants_{file}.py::{name}` |")
    return "\n".join(rows)


def papers_table() -> str:
    """Which paper each registered variant covers, grouped by the spec's `paper`."""
    by_paper: dict[str, list[str]] = {}
    for family, registry in REGISTRIES.items():
        for name in registry.names():
            paper = registry[name].paper or "-"
            by_paper.setdefault(paper, []).append(f"{family} `{name}`")
    rows = ["| paper | variants |", "|---|---|"]
    rows += [f"| {paper} | {', '.join(names)} |" for paper, names in sorted(by_paper.items())]
    return "\n".join(rows)


def keep_speed_section(out: Path, marker: str = "variant_speed", flag: str = "") -> str:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    old = out.read_text() if out.exists() else ""
    match = re.search(re.escape(start) + ".*?" + re.escape(end), old, re.S)
    if match:
        return match.group(0)
    hint = f"Not measured yet: run `python benchmarks/variant_speed.py{flag} --write-doc {out}`."
    return f"{start}\n{hint}\n{end}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/variants.md"))
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = [
        INTRO.format(steps=args.steps),
        "\n".join(variant_rows(args.steps)),
        "\n\n## A few combinations\n\n" + "\n".join(combination_rows(args.steps)),
        "\n## Which paper each variant covers\n\n" + papers_table(),
        "\n" + NOTES.format(claims=claims_table()),
        keep_speed_section(args.out),
        "\n### Mixers of issue #23 against softmax\n\n" + MIXERS2_NOTE,
        keep_speed_section(args.out, "variant_speed_mixers2", " --set mixers2"),
        "",
    ]
    args.out.write_text("\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
