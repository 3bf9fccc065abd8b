"""What a Lab training worker and the server say to each other, as plain data only: numbers,
strings, lists, dicts and numpy arrays. No object of ours crosses the process boundary, so
neither side depends on the other pickling a class the same way, and a message is cheap to send.

    spec = training_spec("reverse", steps=300)          # server -> worker: what to train
    progress_message(progress) / progress_from_message  # worker -> server, every logged step
    result_message(result) / result_from_message        # worker -> server, once, with the weights
"""

from __future__ import annotations

from dataclasses import asdict, fields

import numpy as np
import torch

from ..config import EncoderConfig
from .model import TaskModel
from .snapshots import Snapshot, Snapshots
from .tasks import make_task
from .train import LogEntry, Progress, TrainingResult, TrainingSettings

# The keyword arguments of train_task a spec may carry (all plain values).
SPEC_KEYS = ("task", "seed", "n_layers", "n_heads", "d_model", "steps", "causal", "snapshot_every")


def training_spec(task: str, **settings: int | bool) -> dict:
    """A training as plain data: train_task(**spec) runs it. Unknown keys are refused here, in
    the server, rather than in the worker, so a typo fails where it was made."""
    unknown = set(settings) - set(SPEC_KEYS)
    if unknown:
        raise ValueError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
    make_task(task)  # an unknown task name fails now, not in the worker
    return {"task": task, **settings}


def _history_message(history: tuple[LogEntry, ...]) -> dict[str, list]:
    return {name: [getattr(entry, name) for entry in history] for name in
            ("step", "loss", "token_accuracy", "sequence_accuracy")}


def _history_from_message(message: dict[str, list]) -> tuple[LogEntry, ...]:
    return tuple(LogEntry(*row) for row in zip(message["step"], message["loss"], message["token_accuracy"],
                                                 message["sequence_accuracy"], strict=True))


def _snapshot_message(snapshot: Snapshot | None) -> dict | None:
    if snapshot is None:
        return None
    return {"step": snapshot.step, "attention": snapshot.attention, "prediction": snapshot.prediction}


def progress_message(progress: Progress) -> dict:
    return {"step": progress.step, "total_steps": progress.total_steps, "loss": progress.loss,
            "token_accuracy": progress.token_accuracy, "sequence_accuracy": progress.sequence_accuracy,
            "snapshot": _snapshot_message(progress.snapshot), "example_inputs": progress.example_inputs,
            "history": _history_message(progress.history)}


def progress_from_message(message: dict) -> Progress:
    snapshot = message["snapshot"]
    return Progress(
        step=message["step"], total_steps=message["total_steps"], loss=message["loss"],
        token_accuracy=message["token_accuracy"], sequence_accuracy=message["sequence_accuracy"],
        snapshot=None if snapshot is None else Snapshot(snapshot["step"], snapshot["attention"],
                                                        snapshot["prediction"]),
        example_inputs=message["example_inputs"], history=_history_from_message(message["history"]))


def result_message(result: TrainingResult) -> dict:
    """Everything the page shows of a finished run; the model as its config, task and weights."""
    snapshots = result.snapshots
    return {
        "task": result.task.spec(), "config": asdict(result.config), "settings": asdict(result.settings),
        "seed": result.seed,
        "weights": {name: t.detach().cpu().numpy().copy() for name, t in result.model.state_dict().items()},
        "accuracy": result.accuracy, "position_accuracy": result.position_accuracy,
        "history": _history_message(result.history),
        "snapshots": {f.name: getattr(snapshots, f.name) for f in fields(Snapshots)},
        "steps": result.steps, "seconds": result.seconds, "stopped_by": result.stopped_by,
        "reached_at": result.reached_at,
    }


def result_from_message(message: dict) -> TrainingResult:
    """The TrainingResult the worker had, with a model rebuilt here from the weights it sent."""
    task = make_task(**message["task"])
    config = EncoderConfig(**message["config"])
    model = TaskModel(config, task)
    model.load_state_dict({name: torch.from_numpy(np.asarray(array)) for name, array in message["weights"].items()})
    model.train(False)
    return TrainingResult(
        task=task, config=config, settings=TrainingSettings(**message["settings"]), seed=message["seed"],
        model=model, accuracy=message["accuracy"], position_accuracy=message["position_accuracy"],
        history=_history_from_message(message["history"]), snapshots=Snapshots(**message["snapshots"]),
        steps=message["steps"], seconds=message["seconds"], stopped_by=message["stopped_by"],
        reached_at=message["reached_at"])
