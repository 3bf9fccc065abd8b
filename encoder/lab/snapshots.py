"""Attention of one fixed held-out example, saved every few steps so a page can replay training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import TaskModel, attention_of


@dataclass(frozen=True)
class Snapshot:
    """The example as the model saw it at one step."""

    step: int
    attention: np.ndarray  # (L, H, T, T) float32
    prediction: np.ndarray  # (T,) predicted output indices


@dataclass(frozen=True)
class Snapshots:
    """Every snapshot of one run, stacked; index i is the model after `steps[i]` updates."""

    example_inputs: np.ndarray  # (T,) input indices
    example_targets: np.ndarray  # (T,) correct output indices
    steps: np.ndarray  # (S,) int, increasing; 0 is the untrained model
    attention: np.ndarray  # (S, L, H, T, T) float32
    predictions: np.ndarray  # (S, T) predicted output indices

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int) -> Snapshot:
        return Snapshot(int(self.steps[index]), self.attention[index], self.predictions[index])

    def at_step(self, step: int) -> Snapshot:
        """The latest snapshot taken at or before `step` (the first one if `step` is earlier)."""
        index = max(int(np.searchsorted(self.steps, step, side="right")) - 1, 0)
        return self[index]


@dataclass
class SnapshotRecorder:
    """Collects snapshots during training; `freeze()` hands back the immutable `Snapshots`."""

    example_inputs: np.ndarray  # (T,)
    example_targets: np.ndarray  # (T,)
    taken: list[Snapshot] = field(default_factory=list)

    def take(self, model: TaskModel, step: int) -> Snapshot:
        if self.taken and self.taken[-1].step == step:
            return self.taken[-1]
        prediction, attention = attention_of(model, self.example_inputs)
        snapshot = Snapshot(step, attention, prediction)
        self.taken.append(snapshot)
        return snapshot

    @property
    def latest(self) -> Snapshot | None:
        return self.taken[-1] if self.taken else None

    def freeze(self) -> Snapshots:
        if not self.taken:
            raise ValueError("No snapshot was taken.")
        return Snapshots(
            example_inputs=self.example_inputs, example_targets=self.example_targets,
            steps=np.array([s.step for s in self.taken], dtype=np.int64),
            attention=np.stack([s.attention for s in self.taken]),  # (S, L, H, T, T)
            predictions=np.stack([s.prediction for s in self.taken]),  # (S, T)
        )
