"""A BERT exported to ONNX -> float32 weights under their PyTorch names, then a cached model folder.

Read with the `onnx` package (no runtime needed). What an export leaves us:
- named initializers for biases, LayerNorms and (float) embeddings, e.g. `bert.encoder.layer.0.
  attention.self.query.bias`;
- anonymous linear weights (`onnx::MatMul_743`): each feeds a MatMul whose output goes into an
  `Add` with the layer's bias, so the weight is named after that bias (`...query.weight`);
- quantized files (onnxruntime's `matmul_nbits_quantizer`) store those weights as `MatMulNBits`
  (4-bit, blocks along the input axis, one scale per block) and the embedding tables as uint8
  with `DequantizeLinear` after the `Gather`. We dequantize them: the model shown is the one
  the file computes, in float32.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from .bundled import write_cache_folder
from .errors import ModelLoadError, scrub

CONVERTER_VERSION = 1  # bump when the output of this module changes, so caches are rebuilt


def decode_matmul_nbits(packed: np.ndarray, scales: np.ndarray, n_out: int, n_in: int, bits: int,
                        block_size: int) -> np.ndarray:
    """com.microsoft MatMulNBits weights without zero points -> float32 [out, in] (nn.Linear layout).

    packed: uint8 (N, n_blocks, block_size·bits/8), two 4-bit values per byte, low nibble first;
    scales: float (N·n_blocks,) or (N, n_blocks). Value = (q − 8) · scale[n, k // block_size], 8
    being the implicit zero point of unsigned 4-bit codes (onnxruntime contrib op spec).
    """
    if bits != 4:
        raise ModelLoadError(f"MatMulNBits with {bits} bits is not supported (only 4).")
    n_blocks = packed.shape[1]
    low, high = packed & 0x0F, packed >> 4  # (N, n_blocks, block_size / 2) each
    codes = np.stack([low, high], axis=-1).reshape(n_out, n_blocks, block_size)  # low nibble first
    scale = scales.reshape(n_out, n_blocks, 1).astype(np.float32)
    weight = (codes.astype(np.float32) - 8.0) * scale  # (N, n_blocks, block_size)
    return weight.reshape(n_out, n_blocks * block_size)[:, :n_in]  # (N, K): padding of the last block cut


def _attributes(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def read_onnx_weights(path: Path) -> tuple[dict[str, torch.Tensor], float]:
    """Every weight of a BERT ONNX graph as float32 tensors under its PyTorch name, and the
    LayerNorm epsilon the graph uses.

    Raises ModelLoadError if a linear weight cannot be named (no bias `Add` after its MatMul) or
    the graph uses a quantization this reader does not know.
    """
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # protobuf DecodeError, OSError...
        raise ModelLoadError(f"{path.name} is not a readable ONNX file: {scrub(str(exc))}") from exc
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = defaultdict(list)
    producers = {}
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
        for name in node.output:
            producers[name] = node

    def bias_after(output: str) -> str | None:
        """The named bias initializer added to `output` by the Add that consumes it, if any."""
        for node in consumers[output]:
            if node.op_type == "Add":
                other = [i for i in node.input if i != output]
                if other and other[0] in initializers and other[0].endswith(".bias"):
                    return other[0]
        return None

    weights: dict[str, np.ndarray] = {}
    consumed: set[str] = set()  # initializers turned into something else
    for node in graph.node:
        if node.op_type in ("MatMul", "MatMulNBits") and len(node.input) > 1 and node.input[1] in initializers:
            bias = bias_after(node.output[0])
            if bias is None:
                raise ModelLoadError(f"{path.name}: the weight {node.input[1]} is not followed by a bias Add, "
                                     "so it cannot be named.")
            if node.op_type == "MatMulNBits":
                if len(node.input) > 3 and node.input[3]:
                    raise ModelLoadError(f"{path.name}: MatMulNBits with zero points is not supported.")
                a = _attributes(node)
                weight = decode_matmul_nbits(initializers[node.input[1]], initializers[node.input[2]],
                                             a["N"], a["K"], a["bits"], a["block_size"])
                consumed.update(node.input[1:3])
            else:
                weight = initializers[node.input[1]].T  # ONNX MatMul is x @ W, W (in, out): nn.Linear is (out, in)
                consumed.add(node.input[1])
            weights[bias.removesuffix(".bias") + ".weight"] = weight
        elif node.op_type == "DequantizeLinear":
            gather = producers.get(node.input[0])
            if gather is None or gather.op_type != "Gather" or gather.input[0] not in initializers:
                raise ModelLoadError(f"{path.name}: a DequantizeLinear that does not follow an embedding "
                                     "lookup is not supported.")
            table, scale = gather.input[0], node.input[1]
            zero_point = initializers[node.input[2]] if len(node.input) > 2 and node.input[2] else 0
            # Per-tensor (scalar) scale and zero point: (q − zp) · scale over the whole table (ONNX spec).
            weight = (initializers[table].astype(np.float32) - np.float32(zero_point)) * initializers[scale]
            weights[table.removesuffix("_quantized")] = weight
            consumed.update(i for i in node.input[1:] if i)
            consumed.add(table)
    for name, array in initializers.items():
        if name in consumed or name.startswith("onnx::") or array.dtype != np.float32:
            continue
        weights.setdefault(name, array)
    epsilons = {_attributes(n).get("epsilon", 1e-5) for n in graph.node if n.op_type == "LayerNormalization"}
    # The graph stores epsilon as a float32 attribute (1e-12 reads 9.99999996e-13): keep 6 digits.
    epsilon = float(f"{min(epsilons):.6g}") if epsilons else 1e-12
    # np.array copies: torch wants writable, C-ordered memory (a transposed weight is neither).
    return {k: torch.from_numpy(np.array(v, dtype=np.float32, order="C")) for k, v in weights.items()}, epsilon


def bert_config_from_weights(weights: dict[str, torch.Tensor], prefix: str, n_heads: int,
                             layer_norm_eps: float, **extra) -> dict:
    """A BERT config.json read off the tensors' shapes; only the head count is not in the weights."""
    layers = {int(k[len(prefix):].split(".")[2]) for k in weights if k.startswith(prefix + "encoder.layer.")}
    return {
        "model_type": "bert",
        "hidden_size": int(weights[prefix + "embeddings.word_embeddings.weight"].shape[1]),
        "vocab_size": int(weights[prefix + "embeddings.word_embeddings.weight"].shape[0]),
        "max_position_embeddings": int(weights[prefix + "embeddings.position_embeddings.weight"].shape[0]),
        "type_vocab_size": int(weights[prefix + "embeddings.token_type_embeddings.weight"].shape[0]),
        "intermediate_size": int(weights[prefix + "encoder.layer.0.intermediate.dense.weight"].shape[0]),
        "num_hidden_layers": len(layers),
        "num_attention_heads": n_heads,
        "hidden_act": "gelu",  # the exports compute GELU with Erf: the exact form
        "layer_norm_eps": layer_norm_eps,
        "pad_token_id": 0,
        **extra,
    }


def convert_onnx_bert(onnx_path: Path, folder: Path, tokenizer_json: Path, *, strip_prefix: str = "",
                      config: dict | None = None, n_heads: int = 12) -> Path:
    """Write `folder` (model.safetensors, config.json, tokenizer.json) from a BERT ONNX file, once.

    config: the model's own config.json when it ships one (labels, heads); otherwise one is read
    off the weights. The folder is built next to its final place and renamed into it, so a crash
    or a second process converting at the same time never leaves a half-written folder behind.
    """
    from safetensors.torch import save_file

    if (folder / "model.safetensors").is_file():
        return folder
    weights, epsilon = read_onnx_weights(onnx_path)
    weights = {k.removeprefix(strip_prefix): v for k, v in weights.items()}
    if config is None:
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        config = bert_config_from_weights(weights, prefix, n_heads, epsilon, architectures=["BertModel"])

    def write(staging: Path) -> None:
        save_file(weights, str(staging / "model.safetensors"), metadata={"converted_from": onnx_path.name})
        (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        shutil.copyfile(tokenizer_json, staging / "tokenizer.json")

    return write_cache_folder(folder, write)
