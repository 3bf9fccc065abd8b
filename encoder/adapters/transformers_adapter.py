"""Decoders and encoder-decoders we do not implement, run through transformers into the same `Run`.

`TransformersModel` offers what the app uses of `Model` (`name`, `config`, `tokenizer`, `run`,
`run_batch`, `learned_position_table`), so a page draws a Llama or a BART like the native encoder.
Attention comes from transformers' own eager implementation (`output_attentions=True`), the
weights after the softmax exactly as the model computes them. Never `trust_remote_code`: only
architectures built into transformers load, from safetensors only.

What differs from a native Run (see `AdapterRun`):
- a decoder's attention is causal: `run.causal` is True, and the cells above the diagonal are
  masked (the softmax gives them exactly 0), to be drawn as masked rather than as zero;
- an encoder-decoder has three attentions, chosen with `run(..., attention_kind=...)`: "encoder"
  (self-attention over text A), "decoder" (causal self-attention over text B) and "cross"
  (decoder queries over encoder keys: (L, H, T_decoder, T_encoder), not square);
- hidden_states are transformers' own: the embedding output, then each layer's output, the last
  one after the final norm (as a native pre-LN encoder with `final_norm` does);
- queries, keys and values (qkv=True) are recomputed from each attention module's input for the
  layouts `qkv.py` knows (Llama-style q_proj/k_proj/v_proj, rotated as the model rotates them, with
  grouped KV heads repeated per query head; GPT-2's fused c_attn), and kept only when
  softmax(QKᵀ/√d_head + causal mask) gives back the captured weights; otherwise they are None and
  `qkv_unavailable` says why (encoder-decoders, unknown layouts, scores computed another way);
- heads can be switched off (`heads_switched_off`): a pre-hook on the output projection zeroes a
  head's slice of its input, the concatenated head outputs, as the native engine's ablation does;
- value_output_norms ‖v_j W_O^h‖ come from hooks on the value projection where the layer has a
  known layout (Llama-style v_proj/o_proj, BART-style v_proj/out_proj, T5 v/o, GPT-2 c_attn/c_proj),
  and are NaN otherwise;
- position_embeddings are the learned table's rows for GPT-2, BART and OPT, and zeros for rotary
  or relative positions, which add no vector to the input (config.positions says which).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from ..capture import Hook, hooked
from ..run import Run
from ..tokenize import TextTokenizer, Tokenized
from . import qkv as qkv_capture
from .value_norms import ValueCapture, attention_modules, capture_values, head_output_norms

MAX_TOKENS = 512  # a decoder's window can be 8k tokens; (L, H, T, T) attentions at 8k would not fit in memory
# Families whose learned position table `learned_position_table` reads (GPT-2's wpe; BART's and
# OPT's embed_positions with their offset of 2).
LEARNED_POSITIONS = ("gpt2", "bart", "opt")
AttentionKind = Literal["self", "encoder", "decoder", "cross"]


@dataclass(frozen=True)
class AdapterConfig:
    """The shape of a transformers model, under the names `EncoderConfig` uses where they exist."""

    family: str  # config.json's model_type, e.g. "llama", "gpt2", "bart"
    n_layers: int  # decoder layers for a decoder; encoder layers for an encoder-decoder
    n_heads: int  # query heads
    n_kv_heads: int  # key/value heads (fewer than n_heads with grouped-query attention)
    d_model: int
    vocab_size: int
    max_positions: int  # what run() reads at most (the model's window, capped at MAX_TOKENS)
    positions: Literal["learned", "rotary", "relative", "none"]
    causal: bool  # decoder-only: every self-attention is causal
    encoder_decoder: bool
    n_decoder_layers: int = 0  # encoder-decoders only
    rotary_base: float | None = None  # RoPE θ base (Su et al. 2021) when positions == "rotary"
    type_vocab_size: int = 0  # no segment embeddings: pairs are refused (encoder-decoders take A and B)
    pad_token_id: int = 0

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


@dataclass(frozen=True, eq=False)
class AdapterRun(Run):
    """A Run from transformers, with what a decoder or encoder-decoder adds.

    `attentions` holds the kind named by `attention_kind`; `tokenized` holds the query tokens,
    and `key_tokenized` the key tokens when they differ (cross-attention).
    """

    attention_kind: AttentionKind = "self"
    key_tokenized: Tokenized | None = None  # cross-attention's keys: the encoder's tokens
    # Why queries/keys/values are None although asked for (a sentence naming the model), else None.
    qkv_unavailable: str | None = None
    # max |softmax(QKᵀ/√d_head + mask) − attentions| over the run when queries and keys were kept.
    qkv_parity_error: float | None = None

    @property
    def key_tokens(self) -> list[str]:
        return (self.key_tokenized or self.tokenized).tokens



class TransformersModel:
    """A transformers decoder or encoder-decoder with a `Model`-like interface. Thread-safe:
    `run` never mutates the model (hooks are per call and per thread)."""

    token_classifier = None  # no token-classification head (Model's attribute, for callers that check)
    id2label = None

    def __init__(self, model: nn.Module, tokenizer: TextTokenizer, name: str, config: AdapterConfig,
                 vocabulary: Tokenizer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.config = config
        self._vocabulary = vocabulary  # id -> piece for tokens we add ourselves (the decoder's start token)
        self._attention = attention_modules(model.base_model)
        self._attention_modules = {name: model.base_model.get_submodule(name) for name in self._attention}

    def __repr__(self) -> str:
        c = self.config
        return (f"TransformersModel({self.name!r}, {c.family}, layers={c.n_layers}, heads={c.n_heads}, "
                f"kv_heads={c.n_kv_heads}, d_model={c.d_model})")

    def parameter_count(self) -> int:
        """Distinct parameters (a tied output layer counts once)."""
        return sum(p.numel() for p in self.model.parameters())

    def learned_position_table(self, side: Literal["encoder", "decoder"] = "encoder") -> np.ndarray | None:
        """The learned (max_positions, D) position table as a float32 copy, row i for position i;
        None for rotary or relative positions. An encoder-decoder has one per side."""
        base = self.model.base_model
        if self.config.encoder_decoder:
            base = self.model.get_encoder() if side == "encoder" else self.model.get_decoder()
        elif isinstance(decoder := getattr(base, "decoder", None), nn.Module):
            base = decoder  # OPT keeps its embeddings in OPTModel.decoder
        if isinstance(table := getattr(base, "wpe", None), nn.Embedding):  # GPT-2
            return table.weight.detach().float().numpy().copy()
        table = getattr(base, "embed_positions", None)
        if isinstance(table, nn.Embedding) and isinstance(offset := getattr(table, "offset", None), int):
            # BART / OPT: position i reads row i + offset (2, a leftover of fairseq's padding rows)
            return table.weight[offset:].detach().float().numpy().copy()
        return None

    def rotary_frequencies(self) -> np.ndarray | None:
        """RoPE's angular frequencies θ_i = base^(−2i/Dh), i < Dh/2 (Su et al. 2021, eq. 15); None without RoPE."""
        if self.config.rotary_base is None:
            return None
        d_head = self.config.d_head
        return self.config.rotary_base ** (-np.arange(0, d_head, 2, dtype=np.float64) / d_head)

    def run(self, text_a: str, text_b: str | None = None, *, qkv: bool = True,
            attention_kind: AttentionKind | None = None) -> AdapterRun:
        """One forward pass with attention capture. A decoder reads one text; an encoder-decoder reads
        text_a into its encoder and text_b (text_a again when None) into its decoder, teacher-forced.
        qkv=True adds per-head queries, keys and values where `qkv_unavailable()` is None and they
        reproduce the captured attention (else the run's `qkv_unavailable` says why)."""
        if self.config.encoder_decoder:
            return self._run_encoder_decoder(text_a, text_b, attention_kind or "encoder")
        if attention_kind not in (None, "self"):
            raise ValueError(f"{self.name} is a decoder: its only attention is 'self', not '{attention_kind}'.")
        if text_b is not None and text_b.strip():
            raise ValueError(f"{self.name} is a decoder: it reads one text, not pairs.")
        tokenized = self.tokenizer.encode(text_a)
        ids = torch.tensor([tokenized.ids])  # (1, T)
        reason = self.qkv_unavailable() if qkv else None
        modules = self._attention_modules if qkv and reason is None else {}
        with (torch.inference_mode(), capture_values(self._attention) as values,
              qkv_capture.capture_inputs(modules) as inputs):
            out = self.model.base_model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False,
                                        output_attentions=True, output_hidden_states=True)
            norms = self._value_norms(values, list(self._attention), len(tokenized))
            projections = self._projections(inputs) if modules else None
        run = self._make_run(tokenized, out.attentions, out.hidden_states, norms, self.model.get_input_embeddings(),
                             causal=True, kind="self")
        if not qkv:
            return run
        if projections is None:
            return replace(run, qkv_unavailable=reason or f"{self.name}: no attention input was captured.")
        queries, keys, values_ = projections
        error = qkv_capture.parity_error(queries, keys, run.attentions, causal=True)
        if not error <= qkv_capture.PARITY_TOLERANCE:  # NaN refused too
            return replace(run, qkv_unavailable=(
                f"{self.name}'s queries and keys, recomputed from its {self.config.family} layers, do not give back "
                f"its attention (largest difference {error:.1e}): it computes its scores another way than "
                "softmax(q·k/√d_head), so they are not shown."))
        return replace(run, queries=queries, keys=keys, values=values_, qkv_parity_error=error)

    def qkv_unavailable(self) -> str | None:
        """Why this model's runs cannot carry queries, keys and values, in one sentence naming it;
        None when every attention layer has a layout `qkv.py` knows (decoders only)."""
        if self.config.encoder_decoder:
            return (f"{self.name} is an encoder–decoder run through transformers: Headlight recomputes queries and "
                    "keys only for decoder-only models.")
        unknown = sorted({type(m).__name__ for m in self._attention_modules.values()
                          if qkv_capture.qkv_layout(m) is None})
        if unknown or not self._attention_modules:
            return (f"{self.name}'s attention layers ({', '.join(unknown) or 'none found'}) have no query/key layout "
                    "Headlight knows (q_proj/k_proj/v_proj, or GPT-2's fused c_attn).")
        return None

    def _projections(self, inputs: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(queries, keys, values), each float32 (L, H, T, Dh), from the captured attention inputs."""
        if any(name not in inputs for name in self._attention_modules):
            return None
        per_layer = [qkv_capture.per_head_qkv(module, *inputs[name], self.config.n_heads)
                     for name, module in self._attention_modules.items()]
        return tuple(torch.stack([layer[i] for layer in per_layer]).float().numpy() for i in range(3))

    def ablation_unavailable(self) -> str | None:
        """Why heads of this model cannot be switched off, naming it; None when they can."""
        if self.config.encoder_decoder:
            return (f"{self.name} is an encoder–decoder run through transformers: Headlight switches heads off in "
                    "decoder-only models only.")
        if not self._attention:
            return f"{self.name}'s attention layers have no output projection Headlight knows."
        return None

    @contextmanager
    def heads_switched_off(self, keep: torch.Tensor) -> Iterator[None]:
        """Inside the block, head h of layer l in batch row b adds nothing where keep[b, l, h] == 0
        (keep (B, L, H), or (L, H) for every row), on this thread's passes only.

        A pre-hook on each output projection (o_proj, c_proj) zeroes the head's Dh-wide slice of its
        input, the concatenation of the heads' outputs: what the native engine's ablation does."""
        n_heads = self.config.n_heads

        def zero_heads_of(layer: int):
            def zero_heads(module: nn.Module, args: tuple) -> tuple:
                x = args[0]  # (B, T, H·Dh)
                rows = keep[..., layer, :].to(x.dtype)  # (B, H) or (H,)
                heads = x.reshape(*x.shape[:-1], n_heads, -1) * rows[..., None, :, None]
                return (heads.reshape(x.shape), *args[1:])
            return zero_heads

        outs = [out for _, out, _ in self._attention.values()]
        with hooked(Hook(out, zero_heads_of(layer), kind="pre") for layer, out in enumerate(outs)):
            yield

    def hidden_states_batch(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The hidden states (L + 1 of (B, T, D)) of a right-padded batch, as `Encoder(...).hidden_states`
        gives them: the embedding output, each layer's output, the last after the final norm. A decoder
        is causal, so a real token never sees the padding after it."""
        if self.config.encoder_decoder:
            raise ValueError(f"{self.name} is an encoder–decoder: its features are not read here.")
        with torch.inference_mode():
            out = self.model.base_model(input_ids=ids, attention_mask=attention_mask, use_cache=False,
                                        output_hidden_states=True)
        return tuple(out.hidden_states)

    def run_batch(self, texts: Sequence[str | tuple[str, str | None]], batch_size: int = 32, *,
                  qkv: bool = False) -> list[AdapterRun]:
        """`run` for each text in turn (no padded batches: transformers' padding masks differ per family)."""
        runs = []
        for index, item in enumerate(texts):
            text_a, text_b = (item, None) if isinstance(item, str) else item
            try:
                runs.append(self.run(text_a, text_b, qkv=qkv))
            except ValueError as error:
                raise ValueError(f"Text {index + 1}: {error}") from error
        return runs

    def _run_encoder_decoder(self, text_a: str, text_b: str | None, kind: AttentionKind) -> AdapterRun:
        if kind not in ("encoder", "decoder", "cross"):
            raise ValueError(f"{self.name} has 'encoder', 'decoder' and 'cross' attention, not '{kind}'.")
        source = self.tokenizer.encode(text_a)
        target = self._decoder_input(self.tokenizer.encode(text_b if text_b and text_b.strip() else text_a))
        ids, decoder_ids = torch.tensor([source.ids]), torch.tensor([target.ids])  # (1, T_enc), (1, T_dec)
        with torch.inference_mode(), capture_values(self._attention) as values:
            out = self.model.base_model(input_ids=ids, attention_mask=torch.ones_like(ids),
                                        decoder_input_ids=decoder_ids, use_cache=False,
                                        output_attentions=True, output_hidden_states=True)
            names = [n for n in self._attention if self._is_kind(n, kind)]
            norms = self._value_norms(values, names, len(source) if kind != "decoder" else len(target))
        if kind == "encoder":
            return self._make_run(source, out.encoder_attentions, out.encoder_hidden_states, norms,
                                  self.model.get_encoder().get_input_embeddings(), causal=False, kind=kind)
        attentions = out.decoder_attentions if kind == "decoder" else out.cross_attentions
        embeddings = self.model.get_decoder().get_input_embeddings()
        run = self._make_run(target, attentions, out.decoder_hidden_states, norms, embeddings,
                             causal=kind == "decoder", kind=kind)
        return replace(run, key_tokenized=source) if kind == "cross" else run

    @staticmethod
    def _is_kind(module_name: str, kind: AttentionKind) -> bool:
        """Whether an attention module's name (BART: encoder.layers.N.self_attn, decoder.layers.N.
        encoder_attn; T5: encoder.block.N.layer.0.SelfAttention, decoder.block.N.layer.1.EncDecAttention)
        belongs to `kind`."""
        side = "encoder" if module_name.split(".")[0] == "encoder" else "decoder"
        cross = "encoder_attn" in module_name or "EncDecAttention" in module_name
        return {"encoder": side == "encoder", "decoder": side == "decoder" and not cross, "cross": cross}[kind]

    def _decoder_input(self, target: Tokenized) -> Tokenized:
        """Teacher forcing: the decoder reads the target shifted right by the start token
        (transformers' shift_tokens_right), so position i predicts target token i."""
        start = getattr(self.model.config, "decoder_start_token_id", None)
        if start is None:
            raise ValueError(f"{self.name}'s config has no decoder_start_token_id.")
        piece = self._vocabulary.id_to_token(start) or str(start)
        return Tokenized(
            text_a=target.text_a, text_b=None, tokens=[piece, *target.tokens[:-1]], ids=[start, *target.ids[:-1]],
            segment_ids=[0] * len(target), word_ids=[None, *target.word_ids[:-1]],
            offsets=[(0, 0), *target.offsets[:-1]], special=[True, *target.special[:-1]],
            truncated=target.truncated, n_tokens_before_truncation=target.n_tokens_before_truncation,
        )

    def _value_norms(self, capture: ValueCapture, names: list[str], n_tokens: int) -> torch.Tensor:
        """(L, H, T) value-output norms for the attention modules `names`, NaN where the layout is unknown."""
        n_heads = self.config.n_heads
        if not names or any(n not in capture.outputs for n in names):
            return torch.full((max(len(names), 1), n_heads, n_tokens), float("nan"))
        layers = []
        for name in names:
            _, out, value_name = self._attention[name]
            values = capture.outputs[name][0]  # (T, KV·Dh), or (T, 3D) for GPT-2's fused c_attn
            w_out = out.weight
            if value_name == "c_attn":  # GPT-2: Conv1D stores [in, out]; q, k, v side by side
                d = w_out.shape[0]
                values, w_out = values[:, 2 * d:], w_out.T
            layers.append(head_output_norms(values, w_out, n_heads))  # (H, T)
        return torch.stack(layers)  # (L, H, T)

    def _make_run(self, tokenized: Tokenized, attentions: tuple[torch.Tensor, ...],
                  hidden_states: tuple[torch.Tensor, ...], norms: torch.Tensor, embeddings: nn.Module,
                  causal: bool, kind: AttentionKind) -> AdapterRun:
        ids = torch.tensor(tokenized.ids)
        token_embeddings = embeddings.weight[ids].float()  # (T, D)
        table = self.learned_position_table("encoder" if kind == "encoder" else "decoder")
        positions = (np.array(table[: len(tokenized)]) if table is not None
                     else np.zeros(tuple(token_embeddings.shape), dtype=np.float32))  # (T, D)
        n_layers = len(attentions)
        if norms.shape[0] != n_layers:  # no value hooks for this layout
            norms = torch.full((n_layers, *norms.shape[1:]), float("nan"))
        return AdapterRun(
            model_name=self.name,
            tokenized=tokenized,
            attentions=torch.stack(attentions, dim=1)[0].float().numpy(),  # (L, H, T_query, T_key)
            hidden_states=torch.stack(hidden_states, dim=1)[0].float().numpy(),  # (L + 1, T, D)
            value_output_norms=norms.float().numpy(),  # (L, H, T_key)
            token_embeddings=token_embeddings.numpy(),
            position_embeddings=positions.astype(np.float32),
            segment_embeddings=None,
            causal=causal,
            attention_kind=kind,
        )
