"""Statistics over a corpus across processes and machines (`torch.distributed`).

The same code runs in one process or under `torchrun` (gloo on CPU, nccl on GPU): the
corpus is tokenized first and cut into sequences, rank r takes a contiguous shard, folds its
batches into a `StatsSummary`, writes a resumable partial every K batches, and at the end the
ranks reduce (sums, min, max, exact counts) and rank 0 writes the final summary. The same
merge runs offline over the partial files (`workbench collect --merge DIR`).

Example:
    $ torchrun --standalone --nproc-per-node 2 -m workbench collect --model default \\
        --data val --stats attn.entropy mlp.nonzero_frac --out runs/stats
"""

from workbench.dist.collect import collect_distributed, init_distributed
from workbench.dist.corpus import load_token_corpus
from workbench.dist.partials import merge_partials

__all__ = ["collect_distributed", "init_distributed", "load_token_corpus", "merge_partials"]
