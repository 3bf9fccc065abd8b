"""Attribution methods: one score per input token for one target, each answering "which tokens move it?".

- gradient_x_input: ∂f/∂x · x per token (Shrikumar et al. 2017; what Captum's InputXGradient computes),
  summed over the embedding dimensions of the token embedding.
- integrated_gradients: Sundararajan et al. (2017), Captum's IntegratedGradients, all steps in one
  batch, from a stated baseline ([PAD] embeddings, or zeros; special tokens kept); its completeness
  error |Σ scores − (f(x) − f(baseline))| / |f(x) − f(baseline)| says whether the steps were enough.
- occlusion: leave one token out (Zeiler & Fergus 2014; Li et al. 2016): f(x) − f(x without token j),
  with the same removal faithfulness uses (`Backend.removal`), all tokens in one batch.
- attention_x_gradient: Chefer et al. (2021, "Generic Attention-model Explainability", eqs. 5–6):
  Ā_b = E_h[(∇A_b ⊙ A_b)⁺], R ← R + Ā_b R from R = I, read at the target's rows; per head and layer
  (∇A ⊙ A)⁺ is kept too (`Attribution.per_head`).
- raw_attention, rollout, flow, value_weighted: the existing attention analyses (encoder.analysis), read
  at the target's rows (the last layer's mean over heads for raw and value-weighted; rollout and flow
  through every layer).

Scores are signed for the gradient and perturbation methods (positive: the token raises the target),
non-negative for the attention ones. Special tokens are scored but never removed or ranked.

One `Explainer` per text shares what the methods have in common, so nothing runs twice: f(x); one
forward and backward at x for both gradient × input and attention × gradient; the attention pass of
the four attention methods; and every perturbed row (`Explainer.values` runs each distinct set of
kept tokens once, so occlusion's leave-one-out rows are also every method's first deletion step).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis import MAX_FLOW_TOKENS, attention_flow, rollout
from .backend import REMOVAL_WORDS, Backend, Prepared, backend_for
from .targets import Target

METHODS: tuple[str, ...] = ("gradient_x_input", "integrated_gradients", "occlusion", "attention_x_gradient",
                            "raw_attention", "rollout", "flow", "value_weighted")
METHOD_NAMES = {
    "gradient_x_input": "gradient × input", "integrated_gradients": "integrated gradients",
    "occlusion": "occlusion (leave one out)", "attention_x_gradient": "attention × gradient (Chefer)",
    "raw_attention": "raw attention (last layer)", "rollout": "rollout", "flow": "attention flow",
    "value_weighted": "value-weighted (last layer)", "random": "random (floor)",
}
GRADIENT_METHODS = ("gradient_x_input", "integrated_gradients", "attention_x_gradient")
IG_STEPS = 50
BASELINES = ("pad", "zero")
CHUNK = 64  # rows per perturbed forward pass: bounds memory at (64, T, D) per layer


@dataclass(frozen=True)
class GradientPass:
    """One forward and backward at x (1 row). E = embedding width, L = layers, H = heads."""

    inputs: torch.Tensor  # (1, T, E) ∂f/∂x
    weights: np.ndarray | None  # (L, H, T, T) attention weights; None where the backend cannot capture them
    gradients: np.ndarray | None  # (L, H, T, T) ∂f/∂weights
    why_not: str | None = None  # why weights are None, in words


@dataclass(frozen=True, eq=False)
class Attribution:
    """One method's scores for one text and one target. T = tokens."""

    method: str
    target: str  # the target's name
    text: str
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]  # (T,) character spans into `text`
    special: tuple[bool, ...]  # (T,)
    scores: np.ndarray  # float64 (T,): one score per token
    value: float  # f(x), the target on the text as typed
    completeness_error: float | None = None  # integrated gradients only
    baseline: str | None = None  # integrated gradients only: "pad" or "zero", in words
    removal: str | None = None  # occlusion: what removing a token means
    per_head: np.ndarray | None = None  # attention × gradient: (L, H, T), (∇A ⊙ A)⁺ at the target's rows
    note: str | None = None  # why scores are missing (NaN), e.g. flow above its token limit
    seconds: float = 0.0

    @property
    def head_relevance(self) -> np.ndarray | None:
        """Attention × gradient per layer and head (L, H): each head's (∇A ⊙ A)⁺ at the target's rows,
        summed over the keys (the per-head maps Chefer et al. 2021 average into Ā), or None."""
        return None if self.per_head is None else self.per_head.sum(axis=-1)


def chefer_relevance(attentions: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """(L, H, T, T) weights and ∂f/∂weights -> (T, T) relevance R (Chefer et al. 2021, eqs. 5–6).

    Per layer, Ā = mean over heads of max(0, ∇A ⊙ A); R starts as the identity (each token is itself)
    and each layer adds what it mixes in: R ← R + Ā · R. Row i of R is how much each input token's
    relevance reaches position i.
    """
    attentions, gradients = np.asarray(attentions, np.float64), np.asarray(gradients, np.float64)
    relevance = np.eye(attentions.shape[-1])
    for weights, grads in zip(attentions, gradients, strict=True):
        cam = np.clip(grads * weights, 0.0, None).mean(axis=0)  # (T, T)
        relevance = relevance + cam @ relevance
    return relevance


class Explainer:
    """One text, one model, one target: the shared pieces every method and the faithfulness runs reuse."""

    def __init__(self, model, text: str, target: Target, backend: Backend | None = None) -> None:
        if target.model is not model:
            raise ValueError(f"The target {target.name!r} belongs to {getattr(target.model, 'name', 'another model')}, "
                             f"not to {getattr(model, 'name', 'this model')}.")
        self.model = model
        self.backend = backend or backend_for(model)
        self.prepared: Prepared = self.backend.prepare(text)
        self.target = target.bind(self.prepared)
        n = self.prepared.n_tokens
        self.position = self.target.resolve_position(n)
        self.x = self.backend.embed(self.prepared.ids)  # (1, T, E)
        removable = ~np.asarray(self.prepared.special)
        if self.position is not None:
            removable[self.position] = False  # the token a target reads is kept: its output is what we explain
        self.removable = removable  # bool (T,)
        self._known: dict[bytes, float] = {}  # a keep row's bytes -> the target with the other tokens removed
        self.value = float(self.values(torch.ones(1, n, dtype=torch.bool))[0])
        self._attention: tuple[np.ndarray, np.ndarray] | None = None
        self._gradients: GradientPass | None = None

    # ------------------------------------------------------------------ passes
    def function(self, embeds: torch.Tensor) -> torch.Tensor:
        """The target on B rows of the text's token embeddings (B, T, E) -> (B,); differentiable."""
        b = embeds.shape[0]
        ids, segments = self.prepared.ids.expand(b, -1), self.prepared.segment_ids.expand(b, -1)
        positions = torch.full((b,), self.position or 0, dtype=torch.long)
        out = self.backend.forward(embeds, ids, segments, torch.ones_like(ids), positions)
        return self.target(out)

    def values(self, keep: torch.Tensor) -> np.ndarray:
        """The target with some tokens removed: keep (R, T) bool -> (R,) float64, no graph.

        Each distinct row is run once per text, in batches of CHUNK rows: a row asked for again (the
        same top token under two methods or two percents, occlusion's leave-one-out rows as the
        deletion curves' first step) is read from what the text has already run.
        """
        rows = np.asarray(keep, dtype=bool)
        keys = [row.tobytes() for row in rows]
        missing = list(dict.fromkeys(k for k in keys if k not in self._known))
        with torch.no_grad():
            for start in range(0, len(missing), CHUNK):
                batch = missing[start:start + CHUNK]
                todo = torch.from_numpy(np.stack([np.frombuffer(k, dtype=bool) for k in batch]))
                self._known.update(zip(batch, self._values(todo).double().tolist(), strict=True))
        return np.array([self._known[k] for k in keys], dtype=np.float64)

    def _values(self, keep: torch.Tensor) -> torch.Tensor:
        rows = keep.shape[0]
        ids, segments = self.prepared.ids.expand(rows, -1), self.prepared.segment_ids.expand(rows, -1)
        position = self.position or 0
        fill = self.backend.removal_embedding()
        if fill is not None:  # replace: positions stay where they were
            embeds = torch.where(keep[..., None], self.x.expand(rows, -1, -1), fill)
            positions = torch.full((rows,), position, dtype=torch.long)
            out = self.backend.forward(embeds, ids, segments, torch.ones_like(ids), positions)
            return self.target(out)
        # drop: each row keeps its own tokens, right-padded to the longest row (causal or masked)
        lengths = keep.sum(dim=1)
        width = int(lengths.max())
        embeds = torch.zeros(rows, width, self.x.shape[-1])
        new_ids = torch.zeros(rows, width, dtype=torch.long)
        new_segments = torch.zeros(rows, width, dtype=torch.long)
        mask = torch.zeros(rows, width, dtype=torch.long)
        positions = torch.zeros(rows, dtype=torch.long)
        for r in range(rows):
            kept = torch.nonzero(keep[r]).flatten()
            n = len(kept)
            embeds[r, :n], new_ids[r, :n] = self.x[0, kept], self.prepared.ids[0, kept]
            new_segments[r, :n], mask[r, :n] = self.prepared.segment_ids[0, kept], 1
            positions[r] = int(keep[r, :position].sum()) if self.position is not None else 0
        return self.target(self.backend.forward(embeds, new_ids, new_segments, mask, positions))

    def attention_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._attention is None:
            self._attention = self.backend.attention_arrays(self.prepared)
        return self._attention

    def readout(self) -> np.ndarray:
        return self.target.readout(np.ones(self.prepared.n_tokens))

    def gradient_pass(self) -> GradientPass:
        """∂f/∂x and ∂f/∂A at x from one forward and backward, made once per text (gradient × input and
        attention × gradient both read it). Only the inputs get gradients, never the model's parameters."""
        if self._gradients is None:
            p = self.prepared
            x = self.x.clone().requires_grad_(True)  # a leaf, so the attention weights carry a graph
            positions = torch.tensor([self.position or 0])
            with torch.enable_grad():
                try:
                    out = self.backend.forward(x, p.ids, p.segment_ids, torch.ones_like(p.ids), positions,
                                               capture=True)
                    why_not = None
                except ValueError as error:  # a decoder that returns no attention weights: ∂f/∂x still holds
                    out, why_not = self.backend.forward(x, p.ids, p.segment_ids, torch.ones_like(p.ids),
                                                        positions), str(error)
                attentions = () if why_not else out.attentions
                grads = torch.autograd.grad(self.target(out).sum(), (x, *attentions), allow_unused=True)
            weights = gradients = None
            if not why_not:
                weights = np.stack([a[0].detach().double().numpy() for a in attentions])  # (L, H, T, T)
                gradients = np.stack([np.zeros_like(w) if g is None else g[0].double().numpy()
                                      for w, g in zip(weights, grads[1:], strict=True)])  # (L, H, T, T)
            self._gradients = GradientPass(grads[0].detach(), weights, gradients, why_not)
        return self._gradients

    # ------------------------------------------------------------------ methods
    def attribute(self, method: str, *, steps: int = IG_STEPS, baseline: str = "pad") -> Attribution:
        if method not in METHODS:
            raise ValueError(f"Unknown method {method!r}; choose from {', '.join(METHODS)}.")
        start = time.perf_counter()
        fields = getattr(self, f"_{method}")(steps=steps, baseline=baseline)
        p = self.prepared
        return Attribution(method=method, target=self.target.name, text=p.text, tokens=p.tokens, offsets=p.offsets,
                           special=p.special, value=self.value, seconds=time.perf_counter() - start, **fields)

    def _gradient_x_input(self, **_) -> dict:
        scores = self.gradient_pass().inputs * self.x  # (1, T, E): Captum's InputXGradient, from the shared pass
        return {"scores": scores.sum(-1)[0].double().numpy()}

    def _integrated_gradients(self, *, steps: int, baseline: str, **_) -> dict:
        from captum.attr import IntegratedGradients

        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, not {baseline!r}.")
        base = self.backend.baseline_embedding(self.prepared, baseline)  # (1, T, E)
        with torch.enable_grad():
            scores = IntegratedGradients(self.function).attribute(self.x.clone(), baselines=base, n_steps=steps,
                                                                  internal_batch_size=steps)  # (1, T, E)
        scores = scores.sum(-1)[0].detach().double().numpy()  # (T,)
        with torch.no_grad():  # Captum's convergence delta, without its second pass over x: f(x) is known
            gap = self.value - float(self.function(base)[0])  # f(x) − f(baseline)
        error = float(abs(scores.sum() - gap) / abs(gap)) if gap != 0 else float("inf")
        words = ("[PAD] embeddings" if baseline == "pad" and self.backend.pad_id is not None else "zero embeddings")
        return {"scores": scores, "completeness_error": error,
                "baseline": f"{words} in place of every non-special token, {steps} steps"}

    def _occlusion(self, **_) -> dict:
        n = self.prepared.n_tokens
        positions = np.flatnonzero(self.removable)
        keep = torch.ones(len(positions), n, dtype=torch.bool)
        keep[torch.arange(len(positions)), torch.from_numpy(positions)] = False
        scores = np.zeros(n)
        scores[positions] = self.value - self.values(keep)
        return {"scores": scores, "removal": REMOVAL_WORDS[self.backend.removal]}

    def _attention_x_gradient(self, **_) -> dict:
        shared = self.gradient_pass()
        if shared.why_not:
            raise ValueError(shared.why_not)
        weights, gradients = shared.weights, shared.gradients  # (L, H, T, T) each
        readout = self.readout()  # (T,)
        per_head = np.einsum("q,lhqk->lhk", readout, np.clip(gradients * weights, 0.0, None))  # (L, H, T)
        # R − I: the identity is each token's own share, the same 1/T for every token under mean pooling;
        # left out, the scores show what the layers mixed in (the ranking of other tokens is unchanged).
        relevance = chefer_relevance(weights, gradients) - np.eye(len(readout))
        return {"scores": readout @ relevance, "per_head": per_head}

    def _raw_attention(self, **_) -> dict:
        attentions, _ = self.attention_arrays()
        return {"scores": self.readout() @ attentions[-1].mean(axis=0)}

    def _rollout(self, **_) -> dict:
        attentions, _ = self.attention_arrays()
        return {"scores": self.readout() @ rollout(attentions)[-1]}

    def _flow(self, **_) -> dict:
        attentions, _ = self.attention_arrays()
        n = self.prepared.n_tokens
        if n > MAX_FLOW_TOKENS:
            return {"scores": np.full(n, np.nan),
                    "note": f"Attention flow is limited to {MAX_FLOW_TOKENS} tokens; this text has {n}."}
        readout = self.readout()  # (T,): the output positions the target reads, often one
        read = np.flatnonzero(readout)
        return {"scores": readout[read] @ attention_flow(attentions, rows=read)}

    def _value_weighted(self, **_) -> dict:
        attentions, norms = self.attention_arrays()
        # encoder.analysis.value_weighted's α_ij · ‖v_j W_O^h‖ (Kobayashi et al. 2020), on the arrays
        # this pass captured (the Lab's model makes no Run).
        weighted = attentions[-1] * norms[-1][:, None, :]  # (H, T, T)
        scores = self.readout() @ weighted.mean(axis=0)
        note = None if np.isfinite(scores).all() else "This model's value norms are not known (see Value-weighted)."
        return {"scores": scores, "note": note}


def attribute(model, text: str, target: Target, method: str = "integrated_gradients", *, steps: int = IG_STEPS,
              baseline: str = "pad") -> Attribution:
    """One method's scores for one text and one target: `Attribution.tokens`, `.scores` (T,)."""
    return Explainer(model, text, target).attribute(method, steps=steps, baseline=baseline)


def attribute_all(model, text: str, target: Target, methods=METHODS, *, steps: int = IG_STEPS,
                  baseline: str = "pad") -> dict[str, Attribution]:
    """Several methods on one text on one `Explainer`: the tokenisation, f(x), the gradient pass, the attention
    pass and the perturbed rows are computed once for all of them."""
    explainer = Explainer(model, text, target)
    return {method: explainer.attribute(method, steps=steps, baseline=baseline) for method in methods}
