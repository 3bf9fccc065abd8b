"""Captured attentions and hidden states match transformers' BertModel to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checkpoints import hf_config, pretraining_style, random_bert_weights, write_checkpoint

from encoder import load_model

TEXTS = [
    ("The cat sat on the mat.", None),
    ("Prices rose 3.5% in 2024, didn't they?!", None),
    ("Crème brûlée à la française, naïve café.", None),
    ("I love pizza 🍕🙂 and emoji 👨‍👩‍👧!", None),
    ("东京是日本的首都。", None),
    ("Where is the station?", "It is two blocks north, past the bank."),
    ("A man plays guitar.", "Someone is making music 🎸."),
]
TOLERANCE = 1e-5


def reference(hf_model, ids, segment_ids):
    with torch.no_grad():
        out = hf_model(
            input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([segment_ids]),
            output_attentions=True, output_hidden_states=True,
        )
    attentions = torch.stack(out.attentions)[:, 0].numpy()  # (L, H, T, T)
    hidden = torch.stack(out.hidden_states)[:, 0].numpy()  # (L + 1, T, D)
    return attentions, hidden


@pytest.mark.parametrize("text_a,text_b", TEXTS)
def test_bundled_model_matches_transformers(model, hf_model, text_a, text_b):
    run = model.run(text_a, text_b)
    attentions, hidden = reference(hf_model, run.ids, run.segment_ids)
    assert run.attentions.shape == attentions.shape == (6, 12, run.n_tokens, run.n_tokens)
    assert run.hidden_states.shape == hidden.shape == (7, run.n_tokens, 384)
    np.testing.assert_allclose(run.attentions, attentions, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(run.hidden_states, hidden, atol=TOLERANCE, rtol=0)


def test_pair_segments(model):
    run = model.run("Where is it?", "Over there.")
    sep = [i for i, t in enumerate(run.tokens) if t == "[SEP]"]
    assert len(sep) == 2
    assert run.segment_ids == [0] * (sep[0] + 1) + [1] * (sep[1] - sep[0])


@pytest.mark.parametrize(
    "overrides,keys_style",
    [
        ({}, "plain"),
        ({}, "pretraining"),  # bert. prefix, gamma/beta, position_ids, cls.* heads
        ({"hidden_act": "gelu_new", "num_hidden_layers": 3, "num_attention_heads": 2}, "plain"),
        ({"hidden_act": "relu", "type_vocab_size": 1, "hidden_size": 48, "num_attention_heads": 6},
         "pretraining"),
    ],
)
def test_random_checkpoints_match_transformers(tmp_path, overrides, keys_style):
    from transformers import BertConfig, BertModel

    config = hf_config(**overrides)
    weights = random_bert_weights(config, seed=len(overrides))
    saved = pretraining_style(weights) if keys_style == "pretraining" else weights
    folder = write_checkpoint(tmp_path / "tiny", config=config, weights=saved)

    ours = load_model(folder)
    reference_model = BertModel(BertConfig(**config, attn_implementation="eager")).eval()
    reference_model.load_state_dict(weights)
    for text_a, text_b in [("the cat sat on the mat .", None), ("hello world !", "two dogs ran")]:
        if text_b is not None and config["type_vocab_size"] < 2:
            continue
        run = ours.run(text_a, text_b)
        attentions, hidden = reference(reference_model, run.ids, run.segment_ids)
        np.testing.assert_allclose(run.attentions, attentions, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(run.hidden_states, hidden, atol=TOLERANCE, rtol=0)
