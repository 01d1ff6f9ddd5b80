"""Ready-made models: the embedded default, MiniLM, and checkpoints by folder name."""

from __future__ import annotations

from pathlib import Path

from workbench.core.checkpoint import load_model
from workbench.core.model import Model
from workbench.data.tokenizer import ByteTokenizer

# `assets/` ships inside the wheel as `workbench.assets` (see setup.py).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "default"


def default_model_dir() -> Path:
    """Folder of the embedded default model, in a source checkout or an installed wheel."""
    if DEFAULT_MODEL_DIR.exists():
        return DEFAULT_MODEL_DIR
    import workbench.assets

    return Path(workbench.assets.__file__).parent / "default"


def load_default() -> tuple[Model, ByteTokenizer]:
    """The small causal LM shipped in `assets/default` and its byte tokenizer (no network).

    Example:
        >>> model, tokenizer = workbench.load_default()
        >>> model.generate("the old dog ", max_new_tokens=20)
    """
    tokenizer = ByteTokenizer()
    return load_model(default_model_dir(), tokenizer=tokenizer), tokenizer


def load_named(name: str) -> Model:
    """`"default"`, `"minilm"`, a local Hugging Face checkpoint folder (its config.json has
    `model_type`/`architectures`), or the path of a workbench checkpoint folder."""
    if name == "default":
        return load_default()[0]
    if name == "minilm":
        from workbench.adapters import load_minilm

        return load_minilm()
    from workbench.adapters.hf_load import is_hf_folder

    if is_hf_folder(name):
        from workbench.adapters import load_hf

        return load_hf(name)
    return load_model(name, tokenizer=ByteTokenizer())


DEFAULT_CONFIG = dict(
    d_model=128,
    n_layers=3,
    n_heads=4,
    d_mlp=512,
    d_vocab=ByteTokenizer.vocab_size,
    n_ctx=256,
    mlp="relu",
    norm="layernorm",
    norm_placement="pre",
    position="learned",
    name="workbench-default",
    seed=0,
)


def train_on_corpus(args) -> dict:
    """Train a causal LM on the embedded corpus; `args` as the `workbench train` command has.

    Checkpoints go to `args.out/checkpoints` (an interrupted run resumes from there; one made
    with another model or training config is refused, naming the fields that differ); the
    final model to `args.out` as one checkpoint folder (config.json, model.safetensors,
    train_log.json, manifest.json), written atomically.
    """
    import json
    import time

    from workbench.core.checkpoint import CONFIG_FILE, WEIGHTS_FILE, write_checkpoint
    from workbench.core.config import ModelConfig
    from workbench.train import TrainConfig, train
    from workbench.train.guards import ResumeRefused

    out = Path(args.out)
    if args.config:
        cfg = ModelConfig.from_dict(json.loads(Path(args.config).read_text()))
    else:
        cfg = ModelConfig(**{**DEFAULT_CONFIG, "seed": args.seed})
    if cfg.d_vocab != ByteTokenizer.vocab_size:
        raise ValueError(
            f"The corpus is byte-tokenized: d_vocab must be {ByteTokenizer.vocab_size}"
        )
    train_cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        lr=args.lr,
        seed=args.seed,
        warmup_steps=min(100, args.steps // 10),
        eval_every=max(1, args.steps // 20),
        checkpoint_every=max(1, args.steps // 10),
        checkpoint_dir=str(out / "checkpoints"),
    )
    model = Model(cfg)
    started = time.perf_counter()
    try:
        result = train(model, None, train_cfg)
    except ResumeRefused as err:
        what = "other training settings" if err.kind == "config" else "another model config"
        raise ValueError(
            f"{out} holds a run with {what} ({'; '.join(err.differences)}); use another "
            f"--out, or delete {out / 'checkpoints'} to start afresh there"
        ) from err
    log = {
        "train_config": train_cfg.to_dict(),
        "losses": result.losses,
        "eval_losses": result.eval_losses,
        "seconds": result.seconds,
        "wall_seconds_this_call": time.perf_counter() - started,
        "tokens_seen": result.tokens_seen,
    }
    files = {
        CONFIG_FILE: {
            "config": cfg.to_dict(),
            "train": {k: log[k] for k in ("train_config", "seconds")},
        },
        WEIGHTS_FILE: model.state_dict(),
        "train_log.json": log,
    }
    write_checkpoint(out, files)  # one unit: weights, config and log together
    print(f"saved {out}: final train loss {result.losses[-1]:.4f}, eval {result.eval_losses[-1]}")
    return log
