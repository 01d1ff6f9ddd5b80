"""Distributed collection on 2 CPU ranks (gloo, file store: no ports): 2 ranks == 1 rank ==
one-process `collect_stats`; interrupted runs resume to the same result; mismatched resumes
are refused; partial files merge offline."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.multiprocessing as mp

import workbench as wb
from workbench import Model, ModelConfig
from workbench.core.summary import StatsSummary
from workbench.dist import collect_distributed, init_distributed, merge_partials

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=64, seed=8)
NAMES = ["attn.entropy", "attn.sink", "mlp.nonzero_frac", "mlp.fire_count"]


def corpus(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 50, (11, 24), generator=gen)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[3, 15:] = False  # some right padding
    mask[8, 20:] = False
    return tokens, mask


def worker(rank, world, store, out, stop_after, model_seed, data_seed):
    torch.set_num_threads(1)
    init_distributed(f"file://{store}", rank=rank, world=world)
    tokens, mask = corpus(data_seed)
    model = Model(CFG.replace(seed=model_seed)).eval()
    try:
        collect_distributed(model, tokens, mask, NAMES, out, batch_size=2, every=1,
                            progress=False, stop_after=stop_after)  # fmt: skip
    finally:
        torch.distributed.destroy_process_group()


def run(tmp_path, out, world=2, stop_after=None, model_seed=8, data_seed=0):
    store = tmp_path / f"store-{time.monotonic_ns()}"
    args = (world, str(store), str(out), stop_after, model_seed, data_seed)
    mp.spawn(worker, args=args, nprocs=world, join=True)


def assert_same(a: StatsSummary, b: StatsSummary) -> None:
    assert a.tokens == b.tokens and a.sequences == b.sequences
    for name, counts in a.fire_counts.items():
        assert torch.equal(counts, b.fire_counts[name])
    for name, acc in a.accumulators.items():
        other = b.accumulators[name]
        for field in ("count", "hist", "nonfinite", "min", "max"):
            assert torch.equal(getattr(acc, field), getattr(other, field)), (name, field)
        torch.testing.assert_close(acc.sum, other.sum, rtol=1e-12, atol=0)
        torch.testing.assert_close(acc.sumsq, other.sumsq, rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def reference() -> StatsSummary:
    tokens, mask = corpus()
    return wb.collect_stats(Model(CFG).eval(), tokens, NAMES, batch_size=2, attention_mask=mask,
                            progress=False)  # fmt: skip


def test_two_ranks_equal_one_rank_equal_one_process(tmp_path, reference) -> None:
    run(tmp_path, tmp_path / "two", world=2)
    two = StatsSummary.load(tmp_path / "two" / "summary.safetensors")
    tokens, mask = corpus()
    one = collect_distributed(Model(CFG).eval(), tokens, mask, NAMES, tmp_path / "one",
                              batch_size=2, every=1, progress=False)  # fmt: skip
    assert_same(two, reference)
    assert_same(one, reference)
    assert two.meta["collection"]["world"] == 2 and two.tokens == int(mask.sum())
    assert_same(merge_partials(tmp_path / "two"), reference)  # offline merge of the partials


def test_interrupted_ranks_resume_to_the_same_result(tmp_path, reference) -> None:
    out = tmp_path / "run"
    run(tmp_path, out, stop_after=1)  # both ranks stop after one batch, partials written
    with pytest.raises(ValueError, match=r"ranks \[\] have no partial, ranks \[0, 1\] are unf"):
        merge_partials(out)
    run(tmp_path, out)
    assert_same(StatsSummary.load(out / "summary.safetensors"), reference)


def test_mismatched_resume_is_refused(tmp_path) -> None:
    out = tmp_path / "run"
    run(tmp_path, out, stop_after=1)
    tokens, mask = corpus()
    with pytest.raises(ValueError, match="partials of a run with 2 ranks; this run has 1"):
        collect_distributed(Model(CFG).eval(), tokens, mask, NAMES, out, batch_size=2,
                            progress=False)  # fmt: skip
    with pytest.raises(Exception, match="config_hash"):
        run(tmp_path, out, model_seed=9)
    with pytest.raises(Exception, match="data_fingerprint"):
        run(tmp_path, out, data_seed=1)


def test_killed_process_resumes_from_its_partial(tmp_path) -> None:
    """A real SIGKILL in the middle of `workbench collect`; the rerun ends with the result of
    an uninterrupted run."""
    text = tmp_path / "corpus.txt"
    text.write_text("the old dog sees a red bird. " * 200)
    cmd = [sys.executable, "-m", "workbench", "collect", "--model", "default", "--data",
           str(text), "--stats", "attn.entropy", "mlp.fire_count", "--seq-len", "32",
           "--batch-size", "1", "--every", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(killed)], env=env, stderr=subprocess.DEVNULL)
    partial = killed / "partials" / "rank00000-of00001.safetensors"
    deadline = time.monotonic() + 120
    while not partial.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed: make the corpus longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.safetensors").exists()
    subprocess.run([*cmd, "--out", str(killed)], env=env, check=True, capture_output=True)
    subprocess.run([*cmd, "--out", str(tmp_path / "clean")], env=env, check=True,
                   capture_output=True)  # fmt: skip
    assert_same(StatsSummary.load(killed / "summary.safetensors"),
                StatsSummary.load(tmp_path / "clean" / "summary.safetensors"))  # fmt: skip
