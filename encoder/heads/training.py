"""Fitting one linear layer on cached encoder features, and saving it as safetensors.

With the encoder frozen, each head is multinomial logistic regression on fixed vectors: a convex
problem, so full-batch L-BFGS (Nocedal 1980) reaches the optimum in a few dozen steps, and the
same features and seed always give bit-identical weights (no sampling, no data order).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Self

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..run import Model
from .features import resolve_layer

IGNORE = -100  # targets with this value add nothing to the loss (PyTorch's ignore_index convention)
FORMAT = "headlight-task-head/1"


@torch.no_grad()
def _init(linear: nn.Linear, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    nn.init.normal_(linear.weight, std=0.01, generator=generator)
    nn.init.zeros_(linear.bias)


def fit_linear(
    linear: nn.Linear,
    features: torch.Tensor,
    targets: torch.Tensor,
    seed: int,
    l2: float = 1e-3,
    max_iter: int = 300,
) -> float:
    """Train `linear` in place on features (N, D) and class targets (N,), entries IGNORE skipped.

    Minimises mean cross-entropy + l2 · ‖W‖² (bias not penalised) on standardised features, then
    folds the standardisation into the layer, so the result is one plain linear map of the raw
    features. Standardising lets one l2 strength suit every feature scale. Returns the final loss.
    """
    keep = targets != IGNORE
    x, y = features[keep], targets[keep]  # (n, D), (n,)
    mean = x.mean(dim=0)  # (D,)
    std = x.std(dim=0).clamp(min=1e-6)  # (D,)
    x = (x - mean) / std
    _init(linear, seed)
    linear.requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        linear.parameters(), lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
        tolerance_grad=1e-7, tolerance_change=1e-10,
    )

    def objective() -> torch.Tensor:
        return F.cross_entropy(linear(x), y) + l2 * linear.weight.square().sum()

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimiser.step(closure)
    with torch.no_grad():
        loss = float(objective())
        # W((x - μ)/σ) + b = (W/σ)x + (b - (W/σ)μ): the same map on raw features
        linear.weight.div_(std)
        linear.bias.sub_(linear.weight @ mean)
    linear.requires_grad_(False)
    return loss


def save_head(path: str | Path, linear: nn.Linear, metadata: dict[str, object]) -> None:
    """Write the layer's weight and bias as safetensors; `metadata` values are stored as JSON."""
    header = {"format": FORMAT} | {key: json.dumps(value) for key, value in metadata.items()}
    tensors = {"weight": linear.weight.detach().contiguous(), "bias": linear.bias.detach().contiguous()}
    save_file(tensors, str(path), metadata=header)


def load_head(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """(tensors, metadata) from a file `save_head` wrote. Raises ValueError for any other file."""
    with safe_open(str(path), framework="pt") as file:
        header = file.metadata() or {}
        if header.get("format") != FORMAT:
            raise ValueError(f"{path} is not a Headlight task head (format {header.get('format')!r}).")
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    if set(tensors) != {"weight", "bias"}:
        raise ValueError(f"{path} holds {sorted(tensors)}, expected weight and bias.")
    return tensors, {key: json.loads(value) for key, value in header.items() if key != "format"}


def check_metadata(path: str | Path, meta: dict, kind: str, model: Model) -> None:
    """Refuse a head of another kind, or one trained on another model's features."""
    if meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')}, not a {kind}.")
    if meta.get("model_name") != model.name:
        raise ValueError(f"{path} was trained on {meta.get('model_name')!r}, not on {model.name!r}.")


class LinearHead(nn.Module):
    """One linear layer on a frozen encoder's features, with its names, seed, layer and held-out
    evaluation; saved as safetensors with those in the metadata (never pickled).

    Subclasses set KIND and EVALUATION (a dataclass with from_dict/to_dict) and add forward().
    Read-only after training, so one instance can serve many threads.
    """

    KIND: ClassVar[str]
    EVALUATION: ClassVar[type]

    def __init__(self, model: Model, labels: Sequence[str], seed: int = 0, layer: int | None = None) -> None:
        super().__init__()
        self.model = model  # a plain attribute: Model is not an nn.Module, so its weights stay out of ours
        self.labels = tuple(labels)
        self.seed = seed
        self.layer = resolve_layer(model, layer)  # the hidden state it reads; n_layers = the encoder's output
        self.linear = nn.Linear(model.config.d_model, len(self.labels))
        self.linear.requires_grad_(False)
        self.evaluation = None  # held-out scores, set by training

    def save(self, path: str | Path) -> None:
        """Safetensors with the weights, and labels, model name, layer, seed and evaluation as metadata."""
        save_head(path, self.linear, {
            "kind": self.KIND, "labels": list(self.labels), "model_name": self.model.name, "layer": self.layer,
            "seed": self.seed, "evaluation": None if self.evaluation is None else self.evaluation.to_dict(),
        })

    @classmethod
    def load(cls, path: str | Path, model: Model) -> Self:
        """A head saved by `save`, on `model`. Raises ValueError if it was trained on another model."""
        tensors, meta = load_head(path)
        check_metadata(path, meta, cls.KIND, model)
        head = cls(model, meta["labels"], meta["seed"], meta["layer"])
        head.linear.load_state_dict(tensors)
        head.evaluation = None if meta["evaluation"] is None else cls.EVALUATION.from_dict(meta["evaluation"])
        return head
