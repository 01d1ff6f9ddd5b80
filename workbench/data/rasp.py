"""RASP-style sequence tasks with the settings of Transformer Programs.

Friedman, Wettig & Chen, "Learning Transformer Programs", NeurIPS 2023 (arXiv 2306.01128),
Section 4.1: reverse and sort (5 symbols + BOS + EOS), hist, double hist and most-freq (6
symbols + BOS), at most 8 positions including BOS/EOS; Dyck-1 and Dyck-2 (16 positions, a label
per position). The lengths follow the authors' released data code (`make_reverse` etc.).
Each task holds N unique examples (default 20,000), split 10% test, then 10% of the rest
validation; the split is a deterministic function of the seed.

An example is `(inputs, labels)`: `inputs` starts with BOS (and ends with EOS where the task
has one); `labels[i]` is the target at position i or None where no loss is taken (BOS, EOS).

Example:
    >>> task = make_task("sort", n_examples=2000, seed=0)
    >>> task.train[0]
    (('<s>', 0, 1, 0, 1, 3, '</s>'), (None, 0, 0, 1, 1, 3, None))
    >>> double = Task.from_function("double", lambda xs: [2 * x for x in xs], vocab=[1, 2, 3],
    ...                             max_len=4, n_examples=50)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from workbench.core.registry import suggest

BOS, EOS = "<s>", "</s>"
Example = tuple[tuple[Hashable, ...], tuple[Hashable | None, ...]]


@dataclass(frozen=True)
class Task:
    """A labelled sequence task: vocabularies and train/validation/test examples."""

    name: str
    vocab: tuple[Hashable, ...]  # input tokens, BOS first (and EOS last where used)
    labels: tuple[Hashable, ...]  # output classes
    max_len: int  # longest input including BOS/EOS
    train: list[Example] = field(repr=False)
    val: list[Example] = field(repr=False)
    test: list[Example] = field(repr=False)

    @classmethod
    def from_function(
        cls,
        name: str,
        fn: Callable[[list], Sequence],
        vocab: Sequence[Hashable],
        max_len: int,
        *,
        min_len: int = 1,
        n_examples: int = 20_000,
        seed: int = 0,
        eos: bool = False,
        labels: Sequence[Hashable] | None = None,
    ) -> Task:
        """A task from `fn(symbols) -> one label per symbol`; symbols drawn from `vocab`,
        `min_len..max_len` of them (BOS, and EOS if `eos`, are added around them)."""
        vocab = list(vocab)
        if not vocab or len(set(vocab)) != len(vocab):
            raise ValueError(f"vocab must be non-empty and unique, got {vocab!r}")
        if BOS in vocab or EOS in vocab:
            raise ValueError(f"vocab may not contain the specials {BOS!r}/{EOS!r}")
        rng = random.Random(seed)

        def draw() -> list:
            return [rng.choice(vocab) for _ in range(rng.randint(min_len, max_len))]

        return build_task(name, draw, fn, vocab, n_examples, seed, eos=eos, labels=labels)


def build_task(
    name: str,
    draw: Callable[[], list],
    fn: Callable[[list], Sequence],
    symbols: list,
    n_examples: int,
    seed: int,
    *,
    eos: bool = False,
    labels: Sequence[Hashable] | None = None,
) -> Task:
    """Draw until `n_examples` unique symbol sequences (or the space looks exhausted), label
    them with `fn`, shuffle with `seed` and split 10% test, then 10% of the rest validation."""
    seen: dict[tuple, None] = {}
    misses = 0
    while len(seen) < n_examples and misses < 50 * n_examples + 1000:
        xs = tuple(draw())
        if xs in seen:
            misses += 1
        seen[xs] = None
    examples = []
    for xs in seen:
        ys = list(fn(list(xs)))
        if len(ys) != len(xs):
            raise ValueError(f"{name}: fn returned {len(ys)} labels for {len(xs)} symbols")
        tail_in, tail_out = ((EOS,), (None,)) if eos else ((), ())
        examples.append(((BOS, *xs, *tail_in), (None, *ys, *tail_out)))
    random.Random(seed + 1).shuffle(examples)
    n_test = len(examples) // 10
    n_val = (len(examples) - n_test) // 10
    test, val, train = (
        examples[:n_test],
        examples[n_test : n_test + n_val],
        examples[n_test + n_val :],
    )
    label_set = (
        list(labels) if labels is not None else _ordered({y for _, ys in examples for y in ys})
    )
    vocab = (BOS, *symbols, *((EOS,) if eos else ()))
    max_len = max(len(x) for x, _ in examples)
    return Task(name, vocab, tuple(label_set), max_len, train, val, test)


def _ordered(values: set) -> list:
    values.discard(None)
    return sorted(values, key=lambda v: (type(v).__name__, repr(v)))


# ---- the paper's tasks -------------------------------------------------------------------


def hist(xs: list) -> list:
    counts = Counter(xs)
    return [counts[x] for x in xs]


def double_hist(xs: list) -> list:
    """For each token: how many distinct tokens share its count."""
    counts = Counter(xs)
    same = Counter(counts.values())
    return [same[counts[x]] for x in xs]


def most_freq(xs: list) -> list:
    """Distinct tokens by decreasing count (ties: first occurrence first), then '-' padding."""
    counts = Counter(xs)
    first = {x: i for i, x in reversed(list(enumerate(xs)))}
    order = sorted(counts, key=lambda x: (-counts[x], first[x]))
    return order + ["-"] * (len(xs) - len(order))


def dyck_labels(xs: list, pairs: dict[str, str]) -> list:
    """Per prefix: 'T' balanced, 'P' a valid unfinished prefix, 'F' can no longer be balanced."""
    stack: list[str] = []
    broken, out = False, []
    for x in xs:
        if not broken and x in pairs:
            stack.append(x)
        elif not broken and stack and pairs[stack[-1]] == x:
            stack.pop()
        else:
            broken = True
        out.append("F" if broken else ("P" if stack else "T"))
    return out


def _dyck_prefix_draw(rng: random.Random, pairs: dict[str, str], length: int) -> Callable[[], list]:
    """Our first sampler, kept so runs made with it regenerate their data: half the strings
    are valid prefixes (open with p=0.5 while closing is possible), half are such prefixes
    with one random token changed."""
    tokens = sorted([*pairs, *pairs.values()])

    def draw() -> list:
        stack, xs = [], []
        for _ in range(length):
            if stack and rng.random() < 0.5:
                xs.append(pairs[stack.pop()])
            else:
                stack.append(rng.choice(sorted(pairs)))
                xs.append(stack[-1])
        if rng.random() < 0.5:
            xs[rng.randrange(length)] = rng.choice(tokens)
        return xs

    return draw


def _dyck_paper_draw(rng: random.Random, pairs: dict[str, str], length: int) -> Callable[[], list]:
    """The distribution of the authors' data code (`make_dyck_pft` run with min = max
    length): half the strings are uniformly random brackets; half grow a balanced string of
    (length + 1) // 2 pairs, each step appending a pair or wrapping the string in one, then
    cut to `length` (padded with random brackets if shorter). The balanced half has few
    distinct strings (at most 2 ** (pairs - 1) for Dyck-1), so unique Dyck-1 data is mostly
    random strings, whose first error usually comes early."""
    tokens = sorted([*pairs, *pairs.values()])
    opens = sorted(pairs)

    def balanced() -> list:
        xs: list = []
        for _ in range((length + 1) // 2):
            left = rng.choice(opens)
            xs = [*xs, left, pairs[left]] if rng.random() < 0.5 else [left, *xs, pairs[left]]
        return xs[:length] + [rng.choice(tokens) for _ in range(length - len(xs))]

    def draw() -> list:
        if rng.random() < 0.5:
            return balanced()
        return [rng.choice(tokens) for _ in range(length)]

    return draw


DYCK_SAMPLERS = {"paper": _dyck_paper_draw, "prefix": _dyck_prefix_draw}
DEFAULT_DYCK_SAMPLER = "paper"


TASK_NAMES = ("reverse", "hist", "double_hist", "sort", "most_freq", "dyck1", "dyck2")


def paper_max_len(name: str) -> int:
    """Positions including BOS/EOS in the paper's setting of task `name`."""
    return 16 if name.startswith("dyck") else 8


def make_task(
    name: str,
    n_examples: int = 20_000,
    seed: int = 0,
    max_len: int | None = None,
    dyck_sampler: str = DEFAULT_DYCK_SAMPLER,
) -> Task:
    """One of `TASK_NAMES` with the paper's vocabulary and length settings. `max_len` counts
    positions including BOS (and EOS), as the paper's code does: 8 by default (at most 6
    symbols for reverse and sort, 7 for hist, double hist and most-freq), 16 for Dyck (15
    symbols). Runs made before this setting used 10, 9 and 17. `dyck_sampler` picks the
    Dyck strings: "paper" (the authors' distribution) or "prefix" (ours before it)."""
    if name not in TASK_NAMES:
        raise ValueError(f"unknown task {name!r}. {suggest(name, TASK_NAMES)} Tasks: {TASK_NAMES}")
    max_len = max_len or paper_max_len(name)
    n_symbols = max_len - (2 if name in ("sort", "reverse") else 1)  # BOS (and EOS)
    if n_symbols < 1:
        raise ValueError(f"max_len {max_len} leaves no room for symbols in {name!r}")
    if name.startswith("dyck"):
        pairs = {"(": ")"} if name == "dyck1" else {"(": ")", "{": "}"}
        if dyck_sampler not in DYCK_SAMPLERS:
            raise ValueError(f"dyck_sampler must be in {list(DYCK_SAMPLERS)}: {dyck_sampler!r}")
        draw = DYCK_SAMPLERS[dyck_sampler](random.Random(seed), pairs, n_symbols)
        fn = lambda xs: dyck_labels(xs, pairs)  # noqa: E731
        return build_task(name, draw, fn, sorted([*pairs, *pairs.values()]), n_examples, seed)
    if name in ("sort", "reverse"):
        fn = sorted if name == "sort" else (lambda xs: xs[::-1])
        return Task.from_function(
            name, fn, range(5), n_symbols, n_examples=n_examples, seed=seed, eos=True
        )
    fn = {"hist": hist, "double_hist": double_hist, "most_freq": most_freq}[name]
    return Task.from_function(name, fn, range(6), n_symbols, n_examples=n_examples, seed=seed)
