"""The forward pass with the token embeddings as its input: what every gradient method differentiates.

An attribution asks how the target moves when a token's input vector moves, so the pass must start
from the token embeddings (a leaf tensor), not from ids. Three kinds of model get one interface:
- a native `Model` (and the Lab's `TaskModel`): the engine's own `Embeddings` and layers, called
  in the order `Encoder.forward` calls them, with the token part of the embedding swapped for the
  leaf; attention weights are read with `capture_attention`, in autograd mode so they keep their
  graph (attention × gradient needs ∂f/∂A);
- a decoder run through transformers (`TransformersModel`): the Hugging Face model's own
  `inputs_embeds` argument.

Nothing here mutates the shared model: no hooks outlive a call, no parameter gets a `.grad`
(gradients are taken with `torch.autograd.grad` for the inputs only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..capture import capture_attention
from ..model import combined_mask
from ..modules import EmbeddingParts
from ..run import encoder_value_output_norms

MAX_TOKENS = 128  # attributions run T + 50 forward passes and their backward: cap the text (in tokens)
Removal = Literal["mask", "zero", "drop"]
REMOVAL_WORDS = {
    "mask": "replaced by [MASK] (the token's embedding becomes the [MASK] embedding; its position stays)",
    "zero": "its token embedding set to zero (its position embedding stays)",
    "drop": "dropped from the sequence (the tokens after it move up one position)",
}


@dataclass(frozen=True)
class Prepared:
    """One text, read by one model. T = tokens."""

    text: str  # the text the offsets index into (control characters removed)
    tokens: tuple[str, ...]  # as people read them
    offsets: tuple[tuple[int, int], ...]  # (T,) character spans; (0, 0) for special tokens
    special: tuple[bool, ...]  # (T,) [CLS], [SEP], <s>...: never removed, never ranked
    ids: torch.Tensor  # (1, T) long
    segment_ids: torch.Tensor  # (1, T) long

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Forwarded:
    """One batched pass: B rows (the same text, perturbed), T tokens."""

    hidden_states: tuple[torch.Tensor, ...]  # n_layers + 1 of (B, T, D); [-1] the encoder's output
    mask: torch.Tensor  # (B, T) 1 = a real token
    positions: torch.Tensor  # (B,) long: where the target position sits in each row
    attentions: tuple[torch.Tensor, ...] | None  # n_layers of (B, H, T, T), in the graph; None unless asked
    values: tuple[torch.Tensor, ...] | None = None  # n_layers of (B, H, T, Dh) (native models only)


class Backend:
    """Reads texts and runs the pass from token embeddings. Subclasses: native, Lab, transformers."""

    kind: str = "native"
    removal: Removal = "mask"
    causal: bool = False

    def prepare(self, text: str) -> Prepared:
        raise NotImplementedError

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, E) token embeddings as the model adds them (no graph)."""
        raise NotImplementedError

    def forward(self, embeds: torch.Tensor, ids: torch.Tensor, segment_ids: torch.Tensor, mask: torch.Tensor,
                positions: torch.Tensor, capture: bool = False) -> Forwarded:
        raise NotImplementedError

    def removal_embedding(self) -> torch.Tensor | None:
        """(E,) what a removed token becomes ("mask", "zero"); None for "drop"."""
        raise NotImplementedError

    def baseline_embedding(self, prepared: Prepared, kind: str) -> torch.Tensor:
        """Integrated gradients' baseline, (1, T, E): every non-special token replaced by [PAD]'s
        embedding ("pad") or by zeros ("zero"); special tokens stay (as in Captum's BERT tutorial),
        so the path changes only the words."""
        x = self.embed(prepared.ids)  # (1, T, E)
        if kind == "zero" or self.pad_id is None:
            fill = torch.zeros(x.shape[-1])
        elif kind == "pad":
            fill = self.embed(torch.tensor([[self.pad_id]]))[0, 0]
        else:
            raise ValueError(f"baseline must be 'pad' or 'zero', not {kind!r}.")
        keep = torch.tensor(prepared.special)[None, :, None]  # (1, T, 1)
        return torch.where(keep, x, fill)

    pad_id: int | None = None

    def attention_arrays(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """(attentions (L, H, T, T), value norms ‖v_j W_O^h‖ (L, H, T)) of the unperturbed text."""
        ids = prepared.ids
        with torch.no_grad():
            out = self.forward(self.embed(ids), ids, prepared.segment_ids, torch.ones_like(ids),
                               torch.zeros(1, dtype=torch.long), capture=True)
            attentions = torch.stack(out.attentions, dim=1)[0]  # (L, H, T, T)
            norms = self._norms(out)  # (L, H, T)
        return attentions.double().numpy(), norms.double().numpy()

    def _norms(self, out: Forwarded) -> torch.Tensor:
        raise NotImplementedError


class EncoderBackend(Backend):
    """The engine's own `Encoder` (a `Model`'s, or the Lab's)."""

    def __init__(self, encoder, removal: Removal, pad_id: int | None, mask_id: int | None) -> None:
        self.encoder = encoder
        self.removal = removal
        self.pad_id = pad_id
        self.mask_id = mask_id
        self.causal = encoder.config.causal

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        embeddings = self.encoder.embeddings
        with torch.no_grad():
            return embeddings.token(ids) * embeddings.token_scale  # (B, T, E)

    def removal_embedding(self) -> torch.Tensor | None:
        if self.removal == "mask":
            return self.embed(torch.tensor([[self.mask_id]]))[0, 0]
        if self.removal == "zero":
            return torch.zeros(self.encoder.embeddings.token.embedding_dim)
        return None

    def forward(self, embeds, ids, segment_ids, mask, positions, capture=False) -> Forwarded:
        """`Encoder.forward` with the token embeddings given: embeds (B, T, E), ids/segment_ids/mask (B, T).

        ids still choose the position rows (RoBERTa counts real tokens) and mark padding.
        """
        encoder = self.encoder
        n_tokens = embeds.shape[1]
        if n_tokens > encoder.config.max_positions:
            raise ValueError(f"{n_tokens} tokens exceed the model's {encoder.config.max_positions} positions.")
        attention_mask = combined_mask(mask, n_tokens, encoder.config.causal, embeds.device)
        parts = encoder.embeddings.parts(ids, segment_ids)
        x = encoder.embeddings.combine(EmbeddingParts(embeds, parts.position, parts.segment))  # (B, T, D)
        if not capture:
            hidden = [x]
            for layer in encoder.layers:
                x = layer(x, attention_mask)
                hidden.append(x)
            record = None
        else:
            with capture_attention(encoder) as record:
                hidden = [x]
                for layer in encoder.layers:
                    x = layer(x, attention_mask)
                    hidden.append(x)
        if encoder.final_norm is not None:
            hidden[-1] = encoder.final_norm(hidden[-1])
        return Forwarded(tuple(hidden), mask, positions, None if record is None else tuple(record.weights),
                         None if record is None else tuple(record.values))

    def _norms(self, out: Forwarded) -> torch.Tensor:
        """‖v_j W_O^h‖ per layer, head and token (L, H, T), Kobayashi et al. (2020, eq. 5) without the bias:
        what `Run.value_output_norms` holds, for the Lab's model, which makes no Run (one function
        computes both: encoder.run.encoder_value_output_norms)."""
        return encoder_value_output_norms(self.encoder, torch.stack(out.values, dim=1))[0]  # (L, H, T)


class ModelBackend(EncoderBackend):
    """A native `Model`: its tokenizer reads the text; removal is [MASK] where the vocabulary has it."""

    def __init__(self, model) -> None:
        vocabulary = model.tokenizer._full
        mask_id = next((vocabulary.token_to_id(t) for t in ("[MASK]", "<mask>") if vocabulary.token_to_id(t)
                        is not None), None)
        super().__init__(model.encoder, "mask" if mask_id is not None else "zero", model.config.pad_token_id, mask_id)
        self.model = model

    def prepare(self, text: str) -> Prepared:
        t = self.model.tokenizer.encode(text)
        if len(t) > MAX_TOKENS:
            raise ValueError(f"Attributions read at most {MAX_TOKENS} tokens; this text makes {len(t)}.")
        return Prepared(t.text_a, tuple(t.labels), tuple(map(tuple, t.offsets)), tuple(t.special),
                        torch.tensor([t.ids]), torch.tensor([t.segment_ids]))

    def attention_arrays(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        run = self.model.run(prepared.text, qkv=False)  # the Run every attention page shows
        return run.attentions.astype(np.float64), run.value_output_norms.astype(np.float64)


class LabBackend(EncoderBackend):
    """A Lab `TaskModel`: symbols, no special tokens, no [MASK]: a removed symbol's embedding is zero."""

    kind = "lab"

    def __init__(self, task_model) -> None:
        super().__init__(task_model.encoder, "zero", None, None)
        self.task_model = task_model

    def prepare(self, text: str) -> Prepared:
        task = self.task_model.task
        ids = task.encode(text)  # (T,); ValueError for symbols it does not read
        offsets = tuple((i, i + 1) for i, c in enumerate(text) if not c.isspace())
        return Prepared(text, tuple(task.decode_inputs(ids)), offsets, (False,) * len(ids),
                        torch.from_numpy(np.asarray(ids, dtype=np.int64))[None], torch.zeros(1, len(ids),
                                                                                        dtype=torch.long))


class TransformersBackend(Backend):
    """A decoder run through transformers (SmolLM2): `inputs_embeds`, eager attention. A decoder has no
    [MASK], so a removed token is dropped (the tokens after it move up, as if it had never been typed)."""

    kind = "decoder"
    removal: Removal = "drop"
    causal = True

    def __init__(self, model) -> None:
        if model.config.encoder_decoder:
            raise ValueError(f"{model.name} is an encoder–decoder: attributions read decoders and encoders only.")
        self.model = model
        self.hf = model.model

    def prepare(self, text: str) -> Prepared:
        t = self.model.tokenizer.encode(text)
        if len(t) > MAX_TOKENS:
            raise ValueError(f"Attributions read at most {MAX_TOKENS} tokens; this text makes {len(t)}.")
        return Prepared(t.text_a, tuple(t.labels), tuple(map(tuple, t.offsets)), tuple(t.special),
                        torch.tensor([t.ids]), torch.zeros(1, len(t), dtype=torch.long))

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.hf.get_input_embeddings()(ids)  # (B, T, D)

    def removal_embedding(self) -> None:
        return None

    def baseline_embedding(self, prepared: Prepared, kind: str) -> torch.Tensor:
        x = self.embed(prepared.ids)
        keep = torch.tensor(prepared.special)[None, :, None]
        return torch.where(keep, x, torch.zeros(x.shape[-1]))  # a decoder has no [PAD] to speak of: zeros

    def forward(self, embeds, ids, segment_ids, mask, positions, capture=False) -> Forwarded:
        out = self.hf.base_model(inputs_embeds=embeds, attention_mask=mask, use_cache=False,
                                 output_attentions=capture, output_hidden_states=True)
        attentions = tuple(out.attentions) if capture else None
        if capture and (attentions is None or any(a is None for a in attentions)):
            raise ValueError(f"{self.model.name} returns no attention weights with gradients (not eager attention).")
        return Forwarded(tuple(out.hidden_states), mask, positions, attentions)

    def attention_arrays(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        run = self.model.run(prepared.text, qkv=False)  # the adapter's own norms (NaN where it has none)
        return run.attentions.astype(np.float64), run.value_output_norms.astype(np.float64)


def backend_for(model) -> Backend:
    """The backend that reads `model`: a `Model`, a Lab `TaskModel` or a `TransformersModel` decoder."""
    from ..adapters.transformers_adapter import TransformersModel
    from ..lab.model import TaskModel
    from ..run import Model

    if isinstance(model, TaskModel):
        return LabBackend(model)
    if isinstance(model, Model):
        return ModelBackend(model)
    if isinstance(model, TransformersModel):
        return TransformersBackend(model)
    raise TypeError(f"Attributions read Headlight models, not {type(model).__name__}.")
