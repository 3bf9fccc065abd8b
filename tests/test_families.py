"""RoBERTa, DistilBERT, ELECTRA and ALBERT load from safetensors folders and match transformers to 1e-5.

The checkpoints are tiny random models that transformers writes (family_checkpoints.py); the
reference is the same folder read back with transformers' AutoModel, eager attention.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from family_checkpoints import family_specs, reference_model, write_family_checkpoint
from safetensors.torch import load_file, save_file

from encoder import ModelLoadError, load_model
from encoder.capture import capture_attention
from encoder.loading.families import family_for

TOLERANCE = 1e-5
SPECS = family_specs()
# XLM-RoBERTa and CamemBERT run RoBERTa's code: parity for each, the other checks for RoBERTa.
MAIN = ["roberta", "distilbert", "electra", "albert"]
TEXTS = [
    "The cat sat on the mat.",
    "Prices rose 3.5% in 2024, didn't they?!",
    "Crème brûlée à la française,\nnaïve café. 东京 🍕",
]
PAIR = ("Where is the station?", "It is two blocks north.")


def reference_outputs(hf_model, ids, segment_ids=None):
    """transformers' attentions (L, H, T, T) and hidden states (L + 1, T, D) for one sequence."""
    inputs = {"input_ids": torch.tensor([ids])}
    if segment_ids is not None:
        inputs["token_type_ids"] = torch.tensor([segment_ids])
    with torch.no_grad():
        out = hf_model(**inputs, output_attentions=True, output_hidden_states=True)
    return torch.stack(out.attentions)[:, 0].numpy(), torch.stack(out.hidden_states)[:, 0].numpy()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """name -> (spec, folder, our Model, transformers' model read back from the folder), written once."""
    from transformers import AutoModel

    cache = {}

    def load(name: str):
        if name not in cache:
            spec = SPECS[name]
            folder, _ = write_family_checkpoint(tmp_path_factory.mktemp(name), spec)
            reference = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
            cache[name] = spec, folder, load_model(folder), reference
        return cache[name]

    return load


@pytest.fixture(params=MAIN)
def family(request, loaded):
    return loaded(request.param)


@pytest.mark.parametrize("name", list(SPECS))

def test_family_matches_transformers(loaded, name):
    spec, _, ours, reference = loaded(name)
    texts = [(t, None) for t in TEXTS] + ([PAIR] if spec.segments else [])
    worst = 0.0
    for text_a, text_b in texts:
        run = ours.run(text_a, text_b)
        attentions, hidden = reference_outputs(reference, run.ids, run.segment_ids if spec.segments else None)
        assert run.attentions.shape == attentions.shape == (3, 4, run.n_tokens, run.n_tokens)
        assert run.hidden_states.shape == hidden.shape == (4, run.n_tokens, 32)
        assert attentions.max(axis=-1).mean() > 2 / run.n_tokens  # far from uniform: a wrong mapping shows
        np.testing.assert_allclose(run.attentions, attentions, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(run.hidden_states, hidden, atol=TOLERANCE, rtol=0)
        worst = max(worst, np.abs(run.attentions - attentions).max(), np.abs(run.hidden_states - hidden).max())
    print(f"{spec.model_type}: largest difference {worst:.2e}")


def test_parameter_count_matches_transformers(family):
    _, _, ours, reference = family
    pooler = sum(p.numel() for n, p in reference.named_parameters() if n.startswith("pooler."))
    assert ours.encoder.parameter_count() == reference.num_parameters() - pooler


def test_batches_equal_single_runs(family):
    """Padding (RoBERTa: pad id 1, padded positions at padding_idx) changes no real token."""
    _, _, ours, _ = family
    texts = ["The cat sat.", TEXTS[1], "A dog ran!"]
    for batched, text in zip(ours.run_batch(texts), texts, strict=True):
        alone = ours.run(text)
        np.testing.assert_allclose(batched.attentions, alone.attentions, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(batched.hidden_states, alone.hidden_states, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", MAIN)
def test_task_checkpoint_keys_load(tmp_path, loaded, name):
    """A pre-training or task checkpoint: the family's prefix before every key, plus heads to ignore."""
    spec, folder, ours, _ = loaded(name)
    for file in ("config.json", "tokenizer.json"):
        shutil.copy(folder / file, tmp_path / file)
    prefixed = {spec.prefix + key: value for key, value in load_file(str(folder / "model.safetensors")).items()}
    prefixed.update({key: torch.zeros(2, 2) for key in spec.head_keys})
    save_file(prefixed, str(tmp_path / "model.safetensors"))
    np.testing.assert_array_equal(load_model(tmp_path).run(TEXTS[0]).attentions, ours.run(TEXTS[0]).attentions)


def test_roberta_positions_start_after_padding(loaded):
    _, _, ours, reference = loaded("roberta")
    from transformers.models.roberta.modeling_roberta import RobertaEmbeddings

    config = ours.config
    assert (config.pad_token_id, config.position_offset, config.max_positions) == (1, 2, 32)
    assert ours.encoder.embeddings.position.num_embeddings == 34  # max_position_embeddings
    ids = torch.tensor([[0, 7, 8, 9, 2, 1, 1], [0, 7, 2, 1, 1, 1, 1]])  # <s> ... </s> <pad>...
    expected = RobertaEmbeddings.create_position_ids_from_input_ids(ids, padding_idx=1)
    assert ours.encoder.embeddings.position_ids(ids).tolist() == expected.tolist() == [
        [2, 3, 4, 5, 6, 1, 1], [2, 3, 4, 1, 1, 1, 1]]
    rows = ours.encoder.embeddings.learned_position_rows()  # what token i reads: row i + 2
    assert rows.shape == (32, 32)
    torch.testing.assert_close(rows[0], reference.embeddings.position_embeddings.weight[2])
    # The tokenizer may read as many tokens as there are positions after the offset.
    assert ours.tokenizer.max_length == 32
    assert ours.run("the " * 60).n_tokens == 32


def test_roberta_pair_matches_transformers(loaded):
    """<s> A </s></s> B </s> with one segment row, as transformers' RoBERTa reads it (no token types).

    Model.run refuses pairs for models without two segment rows, so this drives the encoder directly.
    """
    _, _, ours, reference = loaded("roberta")
    tokenized = ours.tokenizer.encode(*PAIR)
    assert tokenized.tokens.count("</s>") == 3
    ids = torch.tensor([tokenized.ids])
    with torch.inference_mode(), capture_attention(ours.encoder) as record:
        output = ours.encoder(ids, torch.tensor([tokenized.segment_ids]))
        attentions = record.stacked_weights()[0].numpy()  # (L, H, T, T)
    expected_attentions, expected_hidden = reference_outputs(reference, tokenized.ids)
    np.testing.assert_allclose(attentions, expected_attentions, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(torch.stack(output.hidden_states)[:, 0].numpy(), expected_hidden,
                               atol=TOLERANCE, rtol=0)


def test_albert_applies_one_layer_at_every_depth(loaded):
    _, _, ours, _ = loaded("albert")
    layers = ours.encoder.layers
    assert len(layers) == 3 and all(layer is layers[0] for layer in layers)
    assert len({id(p) for p in ours.encoder.parameters()}) == len(list(ours.encoder.parameters()))
    run = ours.run(TEXTS[0])
    assert run.attentions.shape[0] == 3  # one map per application of the shared layer
    assert not np.allclose(run.attentions[0], run.attentions[1], atol=1e-3)  # different inputs, different maps
    assert run.value_output_norms.shape[0] == 3
    assert ours.encoder.embeddings.token.embedding_dim == 16  # factorised: E = 16, d_model = 32
    assert run.hidden_states.shape[-1] == 32


def test_electra_projects_only_when_widths_differ(tmp_path):
    spec = SPECS["electra"]
    projected = load_model(write_family_checkpoint(tmp_path / "e16", spec)[0])
    assert projected.encoder.embeddings.project.in_features == 16
    same, _ = write_family_checkpoint(tmp_path / "e32", spec, embedding_size=32)
    model = load_model(same)
    assert model.encoder.embeddings.project is None
    assert not any("project" in name for name in model.encoder.state_dict())


def test_distilbert_sinusoidal_table_is_read_from_the_checkpoint(tmp_path):
    """sinusoidal_pos_embds: transformers stores its frozen table, so reading it as learned matches."""
    folder, _ = write_family_checkpoint(tmp_path, SPECS["distilbert"], sinusoidal_pos_embds=True)
    from transformers import AutoModel

    reference = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    run = load_model(folder).run(TEXTS[0])
    attentions, hidden = reference_outputs(reference, run.ids)
    np.testing.assert_allclose(run.attentions, attentions, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(run.hidden_states, hidden, atol=TOLERANCE, rtol=0)


def test_missing_key_is_named_in_the_checkpoints_words(tmp_path):
    folder, _ = write_family_checkpoint(tmp_path, SPECS["distilbert"])
    weights = load_file(str(folder / "model.safetensors"))
    del weights["transformer.layer.1.attention.k_lin.weight"]
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"missing transformer\.layer\.1\.attention\.k_lin\.weight"):
        load_model(folder)


def test_wrong_shape_in_a_shared_layer_is_named_once(tmp_path):
    folder, _ = write_family_checkpoint(tmp_path, SPECS["albert"])
    weights = load_file(str(folder / "model.safetensors"))
    key = "encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"
    weights[key] = torch.zeros(40, 32)
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="wrong shapes") as error:
        load_model(folder)
    message = str(error.value)
    assert message.count(f"{key} is [40, 32], config.json implies [48, 32]") == 1


@pytest.mark.parametrize("name,overrides,words", [
    ("roberta", {"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ("albert", {"num_hidden_groups": 3}, "num_hidden_groups=3"),
    ("albert", {"inner_group_num": 2}, "inner_group_num=2"),
    ("electra", {"hidden_act": "swish"}, "hidden_act 'swish'"),
])
def test_unsupported_configs_are_refused_clearly(tmp_path, loaded, name, overrides, words):
    from transformers import AutoConfig

    spec, folder, _, _ = loaded(name)
    for file in ("model.safetensors", "tokenizer.json"):
        shutil.copy(folder / file, tmp_path / file)
    AutoConfig.for_model(spec.model_type, **{**spec.config, **overrides}).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match=f"config.json cannot be used: .*{words}"):
        load_model(tmp_path)


def test_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match="'deberta-v2'.*'roberta', 'xlm-roberta'.*'distilbert'.*'albert'"):
        family_for("deberta-v2")
    assert [family_for(t).name for t in ("xlm-roberta", "camembert", "electra")] == ["RoBERTa", "RoBERTa", "ELECTRA"]


def test_reference_weights_are_not_transformers_defaults():
    """Guard for the parity tests: the random checkpoints are not near-identity LayerNorms."""
    model = reference_model(SPECS["electra"])
    assert model.embeddings.LayerNorm.weight.std() > 0.05
