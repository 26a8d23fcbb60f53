"""Trans-Encoder training: the cycle loop and each step usable on its own."""

from .config import ConfigError, PrimingConfig, StepConfig, TrainConfig, build_config, load_yaml
from .cycles import TransEncoderRun, run_trans_encoder
from .labels import combine_teachers
from .pairs import (
    PairPool,
    both_orders,
    pool_from_data_dir,
    pool_from_dataset,
    pool_from_pairs_file,
)
from .steps import (
    label_with_bi,
    label_with_cross,
    length_grouped_batches,
    prime_bi_encoder,
    train_bi_encoder,
    train_cross_encoder,
)

__all__ = [
    "ConfigError",
    "PairPool",
    "PrimingConfig",
    "StepConfig",
    "TrainConfig",
    "TransEncoderRun",
    "both_orders",
    "build_config",
    "combine_teachers",
    "label_with_bi",
    "label_with_cross",
    "length_grouped_batches",
    "load_yaml",
    "pool_from_data_dir",
    "pool_from_dataset",
    "pool_from_pairs_file",
    "prime_bi_encoder",
    "run_trans_encoder",
    "train_bi_encoder",
    "train_cross_encoder",
]
