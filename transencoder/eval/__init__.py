"""Evaluation: STS (Spearman x100, SentEval / SimCSE protocol) and binary pair classification
(ROC-AUC x100, as the Trans-Encoder paper; AP, accuracy and F1 as sentence-transformers).

    >>> from transencoder.eval import find_tasks, StsEvaluator
    >>> tasks = find_tasks("../shared/data/sts/senteval")
    >>> result = StsEvaluator(tasks)(model)          # a BiEncoder, CrossEncoder or a list
    >>> print(result.table())

    >>> from transencoder.eval import find_all_tasks, EvaluationSuite
    >>> suite = EvaluationSuite(find_all_tasks("data"))   # STS and pair tasks alike
    >>> suite(model).to_dict()["average"]["primary"]

    >>> dev = StsEvaluator(tasks).as_sentence_evaluator("sts")   # for sentence-transformers'
    >>> dev(sentence_transformer)["sts_spearman"]                # trainer: STEvaluator
"""

from .classification import (
    BinaryScore,
    average_precision,
    best_accuracy,
    best_f1,
    binary_metrics,
    roc_auc,
)
from .data import (
    PAIR_TASKS,
    STS_TASKS,
    YEAR_TASKS,
    DataFormatError,
    PairTask,
    Skipped,
    StsSubset,
    StsTask,
)
from .evaluator import DegenerateEvaluationWarning, StsEvaluator, StsResult, model_scores
from .find import (
    Location,
    find_all_tasks,
    find_data,
    find_pair_tasks,
    find_tasks,
    locate_pair_tasks,
    locate_tasks,
    read_once,
)
from .formats import ALL_FORMATS, FILE_FORMATS, FOLDER_FORMATS, STS_FORMATS, Format
from .metrics import AGGREGATIONS, Correlation, TaskScore, aggregate, correlate
from .pair_datasets import read_pair_dataset
from .pair_evaluator import PairClassificationEvaluator, PairClassificationResult
from .pair_readers import PAIR_FORMATS, read_pair_file
from .readers import read_sick, read_sts_year, read_stsb
from .suite import EvaluationSuite, SuiteResult, headline_metric, primary_average, primary_metric
from .table_readers import read_hf_dataset, read_tsv
from .task_names import canonical_task_name

__all__ = [
    "AGGREGATIONS",
    "ALL_FORMATS",
    "FILE_FORMATS",
    "FOLDER_FORMATS",
    "STS_FORMATS",
    "PAIR_FORMATS",
    "PAIR_TASKS",
    "STS_TASKS",
    "YEAR_TASKS",
    "BinaryScore",
    "Correlation",
    "DataFormatError",
    "DegenerateEvaluationWarning",
    "EvaluationSuite",
    "Format",
    "Location",
    "PairClassificationEvaluator",
    "PairClassificationResult",
    "PairTask",
    "Skipped",
    "StsEvaluator",
    "StsResult",
    "StsSubset",
    "StsTask",
    "STEvaluator",
    "SuiteResult",
    "TaskScore",
    "aggregate",
    "average_precision",
    "best_accuracy",
    "best_f1",
    "binary_metrics",
    "canonical_task_name",
    "correlate",
    "find_all_tasks",
    "find_data",
    "find_pair_tasks",
    "find_tasks",
    "headline_metric",
    "locate_pair_tasks",
    "locate_tasks",
    "model_scores",
    "primary_average",
    "primary_metric",
    "read_hf_dataset",
    "read_once",
    "read_pair_dataset",
    "read_pair_file",
    "read_sick",
    "read_sts_year",
    "read_stsb",
    "read_tsv",
    "roc_auc",
]


def __getattr__(name: str):
    # STEvaluator subclasses sentence-transformers' SentenceEvaluator: imported on first use,
    # so `import transencoder.eval` does not import sentence-transformers.
    if name == "STEvaluator":
        from .st_evaluator import STEvaluator

        return STEvaluator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
