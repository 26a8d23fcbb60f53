"""STS evaluation exactly as SentEval / SimCSE do it.

    >>> from transencoder.eval import find_tasks, StsEvaluator
    >>> tasks = find_tasks("../shared/data/sts/senteval")
    >>> result = StsEvaluator(tasks)(model)          # a BiEncoder, CrossEncoder or a list
    >>> print(result.table())
"""

from .data import STS_TASKS, YEAR_TASKS, DataFormatError, Skipped, StsSubset, StsTask
from .discover import (
    FORMATS,
    Location,
    canonical_task_name,
    find_tasks,
    locate_tasks,
    read_location,
)
from .evaluator import StsEvaluator, StsResult, model_scores
from .metrics import AGGREGATIONS, Correlation, TaskScore, aggregate, correlate
from .readers import read_hf_dataset, read_sick, read_sts_year, read_stsb, read_tsv

__all__ = [
    "AGGREGATIONS",
    "FORMATS",
    "STS_TASKS",
    "YEAR_TASKS",
    "Correlation",
    "DataFormatError",
    "Location",
    "Skipped",
    "StsEvaluator",
    "StsResult",
    "StsSubset",
    "StsTask",
    "TaskScore",
    "aggregate",
    "canonical_task_name",
    "correlate",
    "find_tasks",
    "locate_tasks",
    "model_scores",
    "read_hf_dataset",
    "read_location",
    "read_sick",
    "read_sts_year",
    "read_stsb",
    "read_tsv",
]
