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
