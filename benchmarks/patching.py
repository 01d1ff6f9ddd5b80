"""Activation patching against TransformerLens, and attribution patching against real
patching, on the same weights and tokens, in one run.

1. A full head x position activation-patching sweep (every layer, position and head of
   `hook_z`): TransformerLens's `patching.get_act_patch_attn_head_out_by_pos` (one forward
   per patch) vs `workbench.analysis.patching_sweep.activation_patching` (patches batched
   under a memory budget). Target: >= 3x faster. The values must agree.
2. AtP (`attribution_patching`: one clean forward, one corrupted forward + backward) vs the
   same real sweep. Target: >= 20x faster; the Pearson r of the two is printed.

The TransformerLens model is a `TransformerBridge.boot_native` built offline from a config;
the workbench model is its conversion (`from_transformer_lens`, same logits).

Usage: python benchmarks/patching.py [--layers 4 --d-model 128 --heads 8 --seq 32 --batch 4]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import machine  # noqa: E402


def build(args):
    import transformer_lens.model_bridge.sources.native  # noqa: F401  (registers boot_native)
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    from workbench.adapters import from_transformer_lens

    cfg = TransformerBridgeConfig(
        d_model=args.d_model, n_layers=args.layers, n_heads=args.heads,
        d_head=args.d_model // args.heads, d_mlp=4 * args.d_model, d_vocab=args.vocab,
        n_ctx=args.seq, act_fn="relu", normalization_type="LN", seed=0,
    )  # fmt: skip
    bridge = TransformerBridge.boot_native(cfg).eval()
    return bridge, from_transformer_lens(bridge)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("layers", 4), ("d-model", 128), ("heads", 8), ("seq", 32),
                          ("batch", 4), ("vocab", 500)):  # fmt: skip
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    from transformer_lens import patching

    from workbench.analysis.patching_atp import attribution_patching, pearson_r
    from workbench.analysis.patching_sweep import activation_patching

    bridge, model = build(args)
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
    corrupted = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)

    def metric(logits):  # logit difference of two fixed tokens at the last position
        return (logits[:, -1, 1] - logits[:, -1, 2]).mean()

    n_patches = args.layers * args.seq * args.heads
    print(machine())
    print(f"model: {args.layers} layers, d_model {args.d_model}, {args.heads} heads; tokens "
          f"{args.batch} x {args.seq}; {n_patches} patches (layer x pos x head)")  # fmt: skip
    with torch.no_grad():
        activation_patching(model, clean[:, :4], corrupted[:, :4], metric, "head_pos",
                            progress=False)  # warm-up  # fmt: skip

        def tl_sweep():
            _, cache = bridge.run_with_cache(clean)
            return patching.get_act_patch_attn_head_out_by_pos(bridge, corrupted, cache, metric)

        theirs, t_tl = timed(tl_sweep)
        ours, t_ours = timed(lambda: activation_patching(model, clean, corrupted, metric,
                                                         "head_pos", progress=False))  # fmt: skip
    atp, t_atp = timed(lambda: attribution_patching(model, clean, corrupted, metric, "head_pos"))
    diff = float((ours - theirs.float()).abs().max())
    print(f"TransformerLens sweep   {t_tl:8.2f} s")
    print(f"workbench sweep         {t_ours:8.2f} s   {t_tl / t_ours:6.1f}x faster than TL "
          f"(max |difference| {diff:.1e})")  # fmt: skip
    print(f"workbench AtP           {t_atp:8.3f} s   {t_ours / t_atp:6.1f}x faster than the "
          f"real sweep, {t_tl / t_atp:.0f}x faster than TL")  # fmt: skip
    print(f"AtP vs real patching: Pearson r = {pearson_r(atp, ours):.3f}")


if __name__ == "__main__":
    main()
