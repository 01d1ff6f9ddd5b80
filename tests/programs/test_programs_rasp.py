"""RASP task generators: determinism, split sizes, labels (Friedman et al. 2023 settings)."""

import random

import pytest

from workbench.data.rasp import (
    BOS,
    DYCK_SAMPLERS,
    EOS,
    TASK_NAMES,
    Task,
    dyck_labels,
    make_task,
)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_rasp_task_is_deterministic_with_right_splits(name):
    a, b = make_task(name, n_examples=600, seed=3), make_task(name, n_examples=600, seed=3)
    assert a.train == b.train and a.val == b.val and a.test == b.test
    assert (len(a.test), len(a.val), len(a.train)) == (60, 54, 486)
    inputs = [x for x, _ in a.train + a.val + a.test]
    assert len(set(inputs)) == 600  # unique examples
    assert all(x[0] == BOS for x in inputs)
    assert make_task(name, n_examples=600, seed=4).test != a.test


def test_rasp_labels_match_definitions():
    sort = make_task("sort", n_examples=200)
    for xs, ys in sort.train:
        assert xs[-1] == EOS and list(ys[1:-1]) == sorted(xs[1:-1])
    hist = make_task("hist", n_examples=200)
    for xs, ys in hist.train:
        assert list(ys[1:]) == [xs[1:].count(x) for x in xs[1:]]
    assert hist.max_len == 8 and set(hist.vocab) == {BOS, *range(6)}  # the paper: BOS + 7
    assert dyck_labels(list("(()"), {"(": ")"}) == ["P", "P", "P"]
    assert dyck_labels(list("())("), {"(": ")"}) == ["P", "T", "F", "F"]
    assert dyck_labels(list("({)}"), {"(": ")", "{": "}"}) == ["P", "P", "F", "F"]


def test_rasp_from_function_and_errors():
    task = Task.from_function("inc", lambda xs: [x + 1 for x in xs], [1, 2, 3], max_len=3,
                              n_examples=30)  # fmt: skip
    # only 39 distinct sequences exist; the generator stops when the space runs out
    assert len(task.train) + len(task.val) + len(task.test) == 30
    assert task.labels == (2, 3, 4)
    with pytest.raises(ValueError, match="Did you mean"):
        make_task("srot")
    with pytest.raises(ValueError, match="unique"):
        Task.from_function("bad", lambda xs: xs, [1, 1], max_len=2)


def test_dyck_paper_sampler_mixes_cut_balanced_and_random_strings():
    """The authors' distribution: half balanced strings of 8 pairs cut to 15 symbols (valid
    throughout, one bracket left open), half uniform random brackets (4.4% of which, 1430 of
    2 ** 15, are such strings too)."""
    draw = DYCK_SAMPLERS["paper"](random.Random(0), {"(": ")"}, 15)
    drawn = [tuple(draw()) for _ in range(4000)]
    assert {len(xs) for xs in drawn} == {15}
    valid = [xs for xs in drawn if "F" not in dyck_labels(list(xs), {"(": ")"})]
    cut_balanced = [xs for xs in valid if xs.count("(") == 8]
    assert 0.47 < len(cut_balanced) / len(drawn) < 0.57
    # growing by append-or-wrap reaches at most 2 ** 7 strings; random ones add ~90 here
    assert len(set(cut_balanced)) < 128 + 150
    task = make_task("dyck1", n_examples=4000, seed=1)
    labels = [y for _, ys in task.test for y in ys if y is not None]
    assert labels.count("F") > labels.count("P") > labels.count("T") > 0
    old = make_task("dyck1", n_examples=600, seed=1, dyck_sampler="prefix")
    assert old.test != make_task("dyck1", n_examples=600, seed=1).test
    with pytest.raises(ValueError, match="dyck_sampler"):
        make_task("dyck1", dyck_sampler="uniform")
