"""The lab's task model: the from-scratch `Encoder` plus one linear layer that predicts a symbol
at every position, with evaluation, prediction on a typed sequence, and safetensors files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save, save_file
from torch import nn

from ..capture import capture_attention
from ..config import EncoderConfig
from ..model import Encoder
from .tasks import Task, held_out_set, make_task

FILE_FORMAT = "headlight-lab/1"


def task_config(
    task: Task,
    *,
    n_layers: int = 2,
    n_heads: int = 4,
    d_model: int = 64,
    d_ff: int | None = None,
    causal: bool = False,
    norm_first: bool = True,
    dropout: float = 0.0,
) -> EncoderConfig:
    """The paper's encoder (sinusoidal positions, ReLU, embeddings x sqrt(d)) sized for a task.

    Pre-LN with a final LayerNorm by default, because Xiong et al. (2020) show it stays stable
    without a long warm-up as layers are added, and the page lets users add them. (At 2 layers,
    with the embedding initialisation of `TaskModel`, post-LN reverses as fast.) No dropout:
    the data are endless, so there is nothing to overfit.
    """
    return EncoderConfig.paper(
        vocab_size=len(task.input_symbols), d_model=d_model, n_heads=n_heads, n_layers=n_layers,
        d_ff=d_ff or 4 * d_model, max_positions=task.length, dropout=dropout,
        norm_first=norm_first, final_norm=norm_first, causal=causal,
    )


class TaskModel(nn.Module):
    """Encoder + a per-position linear classifier over the task's output symbols."""

    def __init__(self, config: EncoderConfig, task: Task) -> None:
        super().__init__()
        self.config = config
        self.task = task
        self.encoder = Encoder(config)
        self.classifier = nn.Linear(config.d_model, task.n_classes)
        if config.scale_embedding:
            # The paper multiplies embeddings by sqrt(d) (§3.4); its reference code (tensor2tensor)
            # initialises them with std d^-1/2, so the product has unit variance, the same scale
            # as the sinusoids. torch's N(0, 1) default times sqrt(d) makes token vectors 8x
            # larger (at d = 64) and drowns the positions: reverse, a task about positions only,
            # was then still at 0% held-out after 1,000 steps (seeds 0-2; at a flat rate it
            # took 1,650-2,150 steps), against 95% after 80-100 steps with this initialisation.
            nn.init.normal_(self.encoder.embeddings.token.weight, std=config.d_model ** -0.5)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) input indices -> (B, T, n_classes) logits."""
        return self.classifier(self.encoder(input_ids).last_hidden_state)


@dataclass(frozen=True)
class Evaluation:
    sequence_accuracy: float  # share of sequences with every position right
    position_accuracy: np.ndarray  # (T,) share right at each position
    token_accuracy: float  # share of all positions right


def predict_indices(model: TaskModel, inputs: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """(N, T) input indices -> (N, T) predicted output indices, without autograd."""
    was_training = model.training
    model.train(False)
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            ids = torch.from_numpy(np.asarray(inputs[start:start + batch_size], dtype=np.int64))
            out.append(model(ids).argmax(dim=-1).numpy())  # (b, T)
    model.train(was_training)
    return np.concatenate(out)


def evaluate(model: TaskModel, inputs: np.ndarray, targets: np.ndarray) -> Evaluation:
    correct = predict_indices(model, inputs) == targets  # (N, T)
    return Evaluation(
        sequence_accuracy=float(correct.all(axis=1).mean()),
        position_accuracy=correct.mean(axis=0),
        token_accuracy=float(correct.mean()),
    )


def held_out_evaluation(model: TaskModel, size: int = 1000) -> Evaluation:
    """The model on the task's standard held-out set (the one training reports on)."""
    return evaluate(model, *held_out_set(model.task, size))


def attention_of(model: TaskModel, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One (T,) sequence -> (its predicted output indices (T,), attention (L, H, T, T) float32)."""
    was_training = model.training
    model.train(False)
    ids = torch.from_numpy(np.asarray(inputs, dtype=np.int64)[None])  # (1, T)
    with torch.no_grad(), capture_attention(model.encoder) as record:
        logits = model(ids)  # (1, T, C)
        weights = record.stacked_weights()[0].clone()  # (L, H, T, T), out of the capture buffer
    model.train(was_training)
    return logits[0].argmax(dim=-1).numpy(), weights.numpy()


@dataclass(frozen=True)
class Prediction:
    """The model on one typed sequence, ready to show."""

    inputs: list[str]  # T input symbols
    outputs: list[str]  # T predicted symbols
    expected: list[str]  # T correct symbols (the task's known answer)
    correct: np.ndarray  # (T,) bool
    attention: np.ndarray  # (L, H, T, T)
    expected_attention: np.ndarray  # (T, T) bool: where the right answer lives


def predict_text(model: TaskModel, text: str) -> Prediction:
    """Run a trained model on a typed sequence ("31415926", "([])()"); ValueError if it does not fit."""
    task = model.task
    inputs = task.encode(text)  # (T,)
    predicted, attention = attention_of(model, inputs)
    expected = task.answer(inputs[None])[0]  # (T,)
    return Prediction(
        inputs=task.decode_inputs(inputs), outputs=task.decode_outputs(predicted),
        expected=task.decode_outputs(expected), correct=predicted == expected,
        attention=attention, expected_attention=task.expected_attention(inputs[None])[0],
    )


def causal_blind_spots(task: Task) -> np.ndarray:
    """(T,) bool: positions whose output can need a token after them, which a causal mask hides.

    For reverse, output i needs input T-1-i, which lies ahead of it for the first half: those
    positions can only guess (accuracy near chance), while the second half can be learned.
    """
    ahead = np.triu(np.ones((task.length, task.length), dtype=bool), k=1)  # (T, T): key > query
    return (task.dependencies() & ahead).any(axis=1)


def pattern_share(attention: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Share of each head's attention that lands on the expected keys, averaged over queries.

    attention (L, H, T, T), expected bool (T, T) -> (L, H) in 0..1; 1 means the head does
    exactly what the task needs. Queries with no expected key are left out.
    """
    rows = expected.any(axis=1)  # (T,)
    on_target = (attention * expected).sum(axis=-1)  # (L, H, T)
    return on_target[..., rows].mean(axis=-1)


def _tensors_and_metadata(model: TaskModel) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    metadata = {
        "format": FILE_FORMAT,
        "encoder_config": json.dumps(asdict(model.config)),
        "task": json.dumps(model.task.spec()),
    }
    return {name: t.detach().contiguous() for name, t in model.state_dict().items()}, metadata


def save_task_model(model: TaskModel, path: str | Path) -> None:
    """Weights as safetensors, the encoder config and the task as JSON in the file's metadata."""
    tensors, metadata = _tensors_and_metadata(model)
    save_file(tensors, str(path), metadata=metadata)


def task_model_bytes(model: TaskModel) -> bytes:
    """The file `save_task_model` writes, as bytes (for a download button)."""
    tensors, metadata = _tensors_and_metadata(model)
    return save(tensors, metadata=metadata)


def load_task_model(path: str | Path) -> TaskModel:
    """Read a file written by `save_task_model`; ValueError if it is not one."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != FILE_FORMAT:
        raise ValueError(f"{Path(path).name} is not a Headlight lab model (no '{FILE_FORMAT}' metadata).")
    config = EncoderConfig(**json.loads(metadata["encoder_config"]))
    task = make_task(**json.loads(metadata["task"]))
    model = TaskModel(config, task)
    model.load_state_dict(load_file(str(path)))
    return model.train(False)

