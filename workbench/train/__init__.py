"""Small causal-LM trainer: progress, checkpoints, bit-identical resume, callbacks."""

from workbench.train.callbacks import Callback, CallbackProtocol, EveryN, LossHistory
from workbench.train.checkpoint import load_weights, save_weights
from workbench.train.config import TrainConfig, TrainResult
from workbench.train.guards import ResumeRefused
from workbench.train.state import latest_checkpoint
from workbench.train.trainer import Trainer, make_optimizer, train

__all__ = [
    "Callback",
    "CallbackProtocol",
    "EveryN",
    "LossHistory",
    "ResumeRefused",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "latest_checkpoint",
    "load_weights",
    "make_optimizer",
    "save_weights",
    "train",
]
