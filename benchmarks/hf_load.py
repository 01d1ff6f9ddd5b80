"""Loading a Hugging Face checkpoint: `workbench.load_hf` vs `AutoModelForCausalLM.from_pretrained`.

Builds a GPT-2-small-sized random checkpoint (GPT2Config defaults, ~124M parameters, fp32
safetensors) in a temporary folder, then in one run:
- load time and peak resident memory of each loader, each in a fresh subprocess so peaks do
  not mix (peak = VmHWM above the RSS after imports, as in `benchmarks/common.py`, over the
  load and one read of every weight after it, so weights a loader leaves mapped from the
  file, resident only once used, count too; the time is the load's alone);
- forward time on the same tokens: workbench (no hooks: fused SDPA) vs Hugging Face with
  eager and with SDPA attention, after checking that the logits agree.
Prints a table and the ratios workbench / Hugging Face.

Usage: python benchmarks/hf_load.py [--tokens 512] [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import _status_kib as status_kib  # noqa: E402
from common import machine, median_seconds  # noqa: E402


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=512, help="sequence length of the forward")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--measure", nargs=2, metavar=("LOADER", "FOLDER"), help=argparse.SUPPRESS)
    return p.parse_args()


def make_checkpoint(folder: Path) -> int:
    from transformers import AutoModelForCausalLM, GPT2Config

    torch.manual_seed(0)
    hf = AutoModelForCausalLM.from_config(GPT2Config())
    hf.save_pretrained(folder, safe_serialization=True)
    return sum(p.numel() for p in hf.parameters())


def loader(name: str, folder: str):
    """The call to measure, with its imports done beforehand."""
    import transformers  # noqa: F401  (imported before measuring, for both loaders)

    import workbench

    if name == "workbench":
        return lambda: workbench.load_hf(folder)
    if name == "workbench-bf16":
        return lambda: workbench.load_hf(folder, dtype="bf16")
    from transformers import AutoModelForCausalLM

    return lambda: AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def touch(model) -> None:
    """Read every weight once: a loader may leave weights mapped from the file, resident
    only once used, which would hide them from the peak."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.sum()


def measure_in_this_process(name: str, folder: str) -> None:
    load = loader(name, folder)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = status_kib("VmRSS")
    start = time.perf_counter()
    model = load()
    seconds = time.perf_counter() - start
    touch(model)
    peak = (status_kib("VmHWM") - before) / 1024
    unique = {t.data_ptr(): t for t in model.state_dict().values()}  # tied weights once
    size = sum(t.numel() * t.element_size() for t in unique.values()) / 2**20
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "weights_mib": size}))


def measure_load(name: str, folder: Path, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--threads", str(threads), "--measure", name, str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def forward_times(folder: Path, tokens: int, repeats: int) -> dict[str, float]:
    from transformers import AutoModelForCausalLM

    import workbench

    ids = torch.randint(0, 50257, (1, tokens), generator=torch.Generator().manual_seed(0))
    ours = workbench.load_hf(folder)
    runs = {"workbench": ours}
    for attn in ("eager", "sdpa"):
        hf = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, attn_implementation=attn
        )
        runs[f"hf-{attn}"] = hf.eval()
    with torch.no_grad():
        reference = runs["hf-eager"](ids).logits
        diff = (ours(ids) - reference).abs().max().item()
        print(f"max |logit difference| workbench vs hf-eager at T={tokens}: {diff:.2e}")
        assert diff < 1e-3, diff
        return {
            name: median_seconds(lambda m=m: m(ids), repeats=repeats) for name, m in runs.items()
        }


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    if args.measure:
        measure_in_this_process(*args.measure)
        return
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        n_params = make_checkpoint(folder)
        print(f"GPT-2-small-sized random checkpoint: {n_params / 1e6:.1f}M parameters")
        loads = {
            n: measure_load(n, folder, args.threads) for n in ("hf", "workbench", "workbench-bf16")
        }
        print("\n| loader | load s | peak MiB | weights MiB | peak / weights |")
        print("|---|---|---|---|---|")
        for name, r in loads.items():
            ratio = r["peak_mib"] / r["weights_mib"]
            cells = f"{r['seconds']:.2f} | {r['peak_mib']:.0f} | {r['weights_mib']:.0f}"
            print(f"| {name} | {cells} | {ratio:.2f} |")
        ours, theirs = loads["workbench"], loads["hf"]
        print(
            f"\nload time ratio workbench / hf: {ours['seconds'] / theirs['seconds']:.2f}; "
            f"peak memory ratio: {ours['peak_mib'] / theirs['peak_mib']:.2f}"
        )
        times = forward_times(folder, args.tokens, args.repeats)
    print(f"\n| forward (T={args.tokens}, batch 1) | seconds | workbench / this |")
    print("|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.3f} | {times['workbench'] / seconds:.2f} |")


if __name__ == "__main__":
    main()
