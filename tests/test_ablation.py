"""Head ablation: switching every head of a layer off is removing that layer's attention."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from encoder.ablation import ablated_run, head_effects, layer_without_attention
from encoder.capture import registered_hook_count

TEXT = "The trophy didn't fit in the suitcase because it was too big."


@pytest.mark.parametrize("layer", [0, 3])
def test_every_head_of_a_layer_off_equals_removing_its_attention(model, layer):
    off = [(layer, head) for head in range(model.config.n_heads)]
    ablated = ablated_run(model, TEXT, None, off)
    reference = layer_without_attention(model, TEXT, layer)
    np.testing.assert_allclose(ablated.hidden_states, reference, atol=1e-5)
    intact = model.run(TEXT)
    assert np.abs(ablated.hidden_states[layer + 1] - intact.hidden_states[layer + 1]).max() > 0.1
    np.testing.assert_array_equal(ablated.hidden_states[: layer + 1], intact.hidden_states[: layer + 1])
    # the switched-off layer still attends as before; the layers after it attend differently
    np.testing.assert_allclose(ablated.attentions[layer], intact.attentions[layer], atol=1e-6)
    assert np.abs(ablated.attentions[layer + 1] - intact.attentions[layer + 1]).max() > 1e-3
    assert registered_hook_count(model.encoder) == 0


def test_nothing_off_changes_nothing(model):
    np.testing.assert_allclose(ablated_run(model, TEXT, None, []).hidden_states, model.run(TEXT).hidden_states,
                               atol=1e-6)


def test_other_threads_are_untouched_while_heads_are_off(model):
    from encoder.ablation import heads_switched_off, keep_mask

    expected = model.run("Another session's text.").hidden_states
    seen = {}
    keep = keep_mask(6, 12, [(layer, head) for layer in range(6) for head in range(12)])
    with heads_switched_off(model.encoder, keep):
        worker = threading.Thread(target=lambda: seen.update(run=model.run("Another session's text.")))
        worker.start()
        worker.join()
    np.testing.assert_allclose(seen["run"].hidden_states, expected, atol=1e-6)


def test_head_effects_rank_every_head_one_pass_per_batch(model):
    effects = head_effects(model, TEXT)
    table = effects.table
    pairs = set(zip(table["layer"], table["head"], strict=True))
    assert len(table) == 72 and pairs == {(layer, head) for layer in range(6) for head in range(12)}
    assert (table.embedding_shift >= -1e-6).all()
    assert list(table.embedding_shift) == sorted(table.embedding_shift, reverse=True)
    layer, head = int(table["layer"][0]), int(table["head"][0])  # the most important head, checked alone
    alone = ablated_run(model, TEXT, None, [(layer, head)]).hidden_states[-1].mean(0)
    intact = model.run(TEXT).hidden_states[-1].mean(0)
    cosine = alone @ intact / np.linalg.norm(alone) / np.linalg.norm(intact)
    assert table.embedding_shift[0] == pytest.approx(1 - cosine, abs=1e-5)


# ---------------------------------------------------------------- decoders run through transformers


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A random Llama (4 query heads over 2 KV heads, rotary) saved as transformers saves it, loaded
    through the adapter."""
    transformers = pytest.importorskip("transformers", reason="the adapter runs models through transformers")
    import torch
    from checkpoints import tiny_tokenizer

    from encoder import load_model

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=tiny_tokenizer().get_vocab_size(), hidden_size=32, intermediate_size=48, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0,
        bos_token_id=2, eos_token_id=3)
    folder = tmp_path_factory.mktemp("llama")
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tiny_tokenizer().save(str(folder / "tokenizer.json"))
    return load_model(folder)


DECODER_TEXT = "the cat sat on the mat , and the dog ran"


def test_decoder_heads_off_zero_their_slice_of_the_output_projection(tiny_llama):
    """Every head of layer 1 off = layer 1's attention adds nothing (o_proj has no bias), checked
    against a hook that zeroes o_proj's output directly."""
    import torch

    model = tiny_llama
    ablated = ablated_run(model, DECODER_TEXT, None, [(1, h) for h in range(4)])
    o_proj = model.model.model.layers[1].self_attn.o_proj
    handle = o_proj.register_forward_hook(lambda module, inputs, output: torch.zeros_like(output))
    try:
        reference = model.run(DECODER_TEXT, qkv=False)
    finally:
        handle.remove()
    np.testing.assert_allclose(ablated.hidden_states, reference.hidden_states, atol=1e-5)
    intact = model.run(DECODER_TEXT, qkv=False)
    np.testing.assert_array_equal(ablated.attentions[:2], intact.attentions[:2])
    assert np.abs(ablated.attentions[2] - intact.attentions[2]).max() > 1e-4
    assert np.abs(ablated.hidden_states[2] - intact.hidden_states[2]).max() > 1e-3
    # one head off = its 8 columns of o_proj's input (head 3 of 4: 16 to 24) zeroed, the others kept
    one = ablated_run(model, DECODER_TEXT, None, [(1, 2)])

    def zero_head_3(module, inputs):
        x = inputs[0].clone()
        x[..., 16:24] = 0
        return (x,)

    handle = o_proj.register_forward_pre_hook(zero_head_3)
    try:
        manual = model.run(DECODER_TEXT, qkv=False)
    finally:
        handle.remove()
    np.testing.assert_allclose(one.hidden_states, manual.hidden_states, atol=1e-6)
    assert np.abs(one.hidden_states[2] - intact.hidden_states[2]).max() > 1e-4
    assert not any(o_proj._forward_pre_hooks)  # the switch is gone after the call


def test_decoder_head_effects_equal_one_run_per_head(tiny_llama):
    model = tiny_llama
    effects = head_effects(model, DECODER_TEXT, batch_size=5)  # batches of several heads at once
    assert len(effects.table) == 12
    intact = model.run(DECODER_TEXT, qkv=False).hidden_states[-1].mean(axis=0)
    for _, row in effects.table.head(4).iterrows():
        alone = ablated_run(model, DECODER_TEXT, None, [(int(row["layer"]), int(row["head"]))])
        pooled = alone.hidden_states[-1].mean(axis=0)
        cosine = pooled @ intact / np.linalg.norm(pooled) / np.linalg.norm(intact)
        assert row["embedding_shift"] == pytest.approx(1 - cosine, abs=1e-5)
