"""The lab: a small Transformer encoder trained live on tasks whose right attention is known.

    from encoder.lab import train_task, predict_text
    result = train_task("reverse", seed=0)  # result.accuracy, .history, .snapshots, .model
    predict_text(result.model, "31415926").outputs  # ['6', '2', '9', ...]

A server trains in `encoder.lab.pool` instead: a bounded pool of worker processes, one thread each,
at a lower OS priority, fed by a queue (`shared_pool().submit(training_spec(...))`), so that
trainings never slow other visitors' pages.

This package never imports streamlit or plotly.
"""

from .model import (
    Evaluation,
    Prediction,
    TaskModel,
    causal_blind_spots,
    evaluate,
    held_out_evaluation,
    load_task_model,
    pattern_share,
    predict_text,
    save_task_model,
    task_config,
    task_model_bytes,
)
from .snapshots import Snapshot, Snapshots
from .tasks import TASKS, Task, held_out_set, make_task
from .train import LogEntry, Progress, ProgressCallback, TrainingResult, TrainingSettings, train_task

__all__ = [
    "TASKS", "Evaluation", "LogEntry", "Prediction", "Progress", "ProgressCallback", "Snapshot", "Snapshots",
    "Task", "TaskModel", "TrainingResult", "TrainingSettings", "causal_blind_spots", "evaluate",
    "held_out_evaluation", "held_out_set", "load_task_model", "make_task", "pattern_share", "predict_text",
    "save_task_model", "task_config", "task_model_bytes", "train_task",
]
