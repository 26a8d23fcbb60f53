"""Trans-Encoder training: the run (:mod:`.runner`), its steps, and each part usable on its own."""

from ..settings import ConfigError
from .config import DataConfig, RunConfig, TeacherConfig, TrainConfig
from .pairs import (
    PairPool,
    both_orders,
    load_pool,
    pool_from_data_dir,
    pool_from_dataset,
    pool_from_pairs_file,
)
from .recipes import RECIPES, build_config, load_yaml, parse_set
from .runner import TransEncoderRun, run_trans_encoder
from .step_config import BiStepConfig, CrossStepConfig, PrimingConfig, StepConfig
from .steps import (
    label_with_bi,
    label_with_cross,
    length_grouped_batches,
    prime_bi_encoder,
    train_bi_encoder,
    train_cross_encoder,
)
from .teachers import combine_teachers

__all__ = [
    "RECIPES",
    "BiStepConfig",
    "ConfigError",
    "CrossStepConfig",
    "DataConfig",
    "PairPool",
    "PrimingConfig",
    "RunConfig",
    "StepConfig",
    "TeacherConfig",
    "TrainConfig",
    "TransEncoderRun",
    "both_orders",
    "build_config",
    "combine_teachers",
    "label_with_bi",
    "label_with_cross",
    "length_grouped_batches",
    "load_pool",
    "load_yaml",
    "parse_set",
    "pool_from_data_dir",
    "pool_from_dataset",
    "pool_from_pairs_file",
    "prime_bi_encoder",
    "run_trans_encoder",
    "train_bi_encoder",
    "train_cross_encoder",
]
