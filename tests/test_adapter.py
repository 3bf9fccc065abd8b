"""The transformers adapter: tiny random decoders and an encoder-decoder, written in-test, against
transformers' own eager outputs."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the adapter runs models through transformers")

from checkpoints import tiny_tokenizer  # noqa: E402

from encoder import ModelLoadError, load_model  # noqa: E402
from encoder.adapters import AdapterRun, TransformersModel  # noqa: E402

TEXT = "the cat sat on the mat, and the dog ran"
VOCAB = tiny_tokenizer().get_vocab_size()


def _write(folder, model):
    """A transformers model with random weights, saved as safetensors with a tokenizer.json."""
    model.save_pretrained(folder)  # model.safetensors + config.json (safetensors is the default)
    tiny_tokenizer().save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         rope_theta=10000.0, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    return _write(tmp_path_factory.mktemp("llama"), LlamaForCausalLM(config))


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(1)
    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=40, bos_token_id=2,
                        eos_token_id=3)
    return _write(tmp_path_factory.mktemp("gpt2"), GPT2LMHeadModel(config))


@pytest.fixture(scope="module")
def bart_folder(tmp_path_factory):
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(2)
    config = BartConfig(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
                        decoder_attention_heads=4, encoder_ffn_dim=48, decoder_ffn_dim=48,
                        max_position_embeddings=64, pad_token_id=0, bos_token_id=2, eos_token_id=3,
                        decoder_start_token_id=3, forced_eos_token_id=None)
    return _write(tmp_path_factory.mktemp("bart"), BartForConditionalGeneration(config))


def _reference(folder, auto="AutoModelForCausalLM"):
    """transformers' own model on the same folder, eager attention: the independent reference."""
    cls = getattr(transformers, auto)
    return cls.from_pretrained(folder, attn_implementation="eager").eval()


def _manual_value_norms(values: torch.Tensor, w_out: torch.Tensor, n_heads: int) -> np.ndarray:
    """‖v_j W_O^h‖ the slow way: one head and one token at a time. values (T, KV·Dh), w_out (D, H·Dh)."""
    d_head = w_out.shape[1] // n_heads
    n_kv = values.shape[1] // d_head
    out = np.zeros((n_heads, values.shape[0]), dtype=np.float32)
    for h in range(n_heads):
        kv = h // (n_heads // n_kv)  # transformers' repeat_kv: query head h reads KV head h // groups
        v = values[:, kv * d_head:(kv + 1) * d_head]  # (T, Dh)
        w = w_out[:, h * d_head:(h + 1) * d_head]  # (D, Dh)
        for j in range(values.shape[0]):
            out[h, j] = float((w @ v[j]).norm())
    return out


def test_llama_folder_goes_through_the_adapter_with_transformers_attention(llama_folder):
    model = load_model(llama_folder)
    assert isinstance(model, TransformersModel)
    c = model.config
    assert (c.family, c.n_layers, c.n_heads, c.n_kv_heads, c.d_model) == ("llama", 2, 4, 2, 32)
    assert c.causal and not c.encoder_decoder and c.positions == "rotary" and c.rotary_base == 10000.0
    run = model.run(TEXT)
    assert isinstance(run, AdapterRun) and run.causal and run.attention_kind == "self"
    reference = _reference(llama_folder)
    ids = torch.tensor([run.ids])
    with torch.no_grad():
        expected = reference(ids, output_attentions=True, output_hidden_states=True)
    T = run.n_tokens
    assert run.attentions.shape == (2, 4, T, T) and run.hidden_states.shape == (3, T, 32)
    np.testing.assert_allclose(run.attentions, torch.stack(expected.attentions, 1)[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(run.hidden_states, torch.stack(expected.hidden_states, 1)[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(run.attentions.sum(-1), 1, atol=1e-5)
    assert np.all(run.attentions[:, :, run.future_mask()] == 0)  # masked, exactly
    assert run.token_labels is None
    assert model.run(TEXT, qkv=False).queries is None  # asked for only
    np.testing.assert_array_equal(run.position_embeddings, 0)  # rotary: no position vector is added
    np.testing.assert_allclose(model.rotary_frequencies(), 10000.0 ** (-np.arange(0, 8, 2) / 8))
    assert model.learned_position_table() is None
    again = pickle.loads(pickle.dumps(run))  # Streamlit's cache_data pickles runs
    assert again.causal and again.tokens == run.tokens
    np.testing.assert_array_equal(again.attentions, run.attentions)


def test_llama_value_output_norms_from_grouped_heads(llama_folder):
    model = load_model(llama_folder)
    run = model.run(TEXT)
    layer = model.model.model.layers[1]
    with torch.no_grad():
        hidden = torch.tensor(run.hidden_states[1])  # (T, D): the input of layer 1
        values = layer.self_attn.v_proj(layer.input_layernorm(hidden))  # (T, KV·Dh)
    expected = _manual_value_norms(values, layer.self_attn.o_proj.weight, n_heads=4)
    np.testing.assert_allclose(run.value_output_norms[1], expected, rtol=1e-5, atol=1e-6)


def test_gpt2_learned_positions_and_fused_values(gpt2_folder):
    model = load_model(gpt2_folder)
    assert model.config.family == "gpt2" and model.config.positions == "learned"
    assert model.config.max_positions == 40
    run = model.run(TEXT)
    reference = _reference(gpt2_folder)
    with torch.no_grad():
        expected = reference(torch.tensor([run.ids]), output_attentions=True)
    np.testing.assert_allclose(run.attentions, torch.stack(expected.attentions, 1)[0].numpy(), atol=1e-6)
    wpe = reference.transformer.wpe.weight.detach().numpy()
    np.testing.assert_array_equal(run.position_embeddings, wpe[: run.n_tokens])
    np.testing.assert_array_equal(model.learned_position_table(), wpe)
    block = model.model.transformer.h[0]
    with torch.no_grad():
        fused = block.attn.c_attn(block.ln_1(torch.tensor(run.hidden_states[0])))  # (T, 3D)
    expected_norms = _manual_value_norms(fused[:, 64:], block.attn.c_proj.weight.T, n_heads=4)  # Conv1D: [in, out]
    np.testing.assert_allclose(run.value_output_norms[0], expected_norms, rtol=1e-5, atol=1e-6)


def test_encoder_decoder_exposes_three_attentions(bart_folder):
    model = load_model(bart_folder)
    c = model.config
    assert c.encoder_decoder and (c.n_layers, c.n_decoder_layers) == (2, 3)
    source, target = "the cat sat on the mat", "a dog ran"
    encoder_run = model.run(source, target)  # default: the encoder's self-attention
    decoder_run = model.run(source, target, attention_kind="decoder")
    cross_run = model.run(source, target, attention_kind="cross")
    reference = _reference(bart_folder, "AutoModelForSeq2SeqLM")
    with torch.no_grad():
        expected = reference(input_ids=torch.tensor([encoder_run.ids]),
                             decoder_input_ids=torch.tensor([decoder_run.ids]), output_attentions=True)
    T_enc, T_dec = encoder_run.n_tokens, decoder_run.n_tokens
    assert decoder_run.ids[0] == 3 and decoder_run.tokens[1:] == model.tokenizer.encode(target).tokens[:-1]
    assert not encoder_run.causal and decoder_run.causal and not cross_run.causal
    for run, kind, shape in ((encoder_run, "encoder_attentions", (2, 4, T_enc, T_enc)),
                             (decoder_run, "decoder_attentions", (3, 4, T_dec, T_dec)),
                             (cross_run, "cross_attentions", (3, 4, T_dec, T_enc))):
        assert run.attentions.shape == shape
        np.testing.assert_allclose(run.attentions, torch.stack(getattr(expected, kind), 1)[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(run.attentions.sum(-1), 1, atol=1e-5)
        assert run.value_output_norms.shape == shape[:2] + shape[3:]  # (L, H, T_key)
        assert np.isfinite(run.value_output_norms).all()
    assert cross_run.key_tokens == encoder_run.tokens and cross_run.tokens == decoder_run.tokens
    positions = reference.model.encoder.embed_positions.weight.detach().numpy()  # rows 0, 1 unused (offset 2)
    np.testing.assert_array_equal(encoder_run.position_embeddings, positions[2: 2 + T_enc])
    decoder_positions = reference.model.decoder.embed_positions.weight.detach().numpy()
    np.testing.assert_array_equal(decoder_run.position_embeddings, decoder_positions[2: 2 + T_dec])
    assert np.all(decoder_run.attentions[:, :, decoder_run.future_mask()] == 0)


def test_errors_are_plain(llama_folder, bart_folder):
    model = load_model(llama_folder)
    with pytest.raises(ValueError, match="not pairs"):
        model.run("the cat", "the dog")
    with pytest.raises(ValueError, match="only attention is 'self'"):
        model.run("the cat", attention_kind="cross")
    with pytest.raises(ValueError, match="empty"):
        model.run("   ")
    with pytest.raises(ValueError, match="not 'self'"):
        load_model(bart_folder).run("the cat", attention_kind="self")


def test_bert_like_encoders_are_not_taken_for_decoders():
    from encoder.loading.transformers import is_adapter_config

    assert is_adapter_config({"model_type": "llama"}) and is_adapter_config({"model_type": "t5"})
    assert not is_adapter_config({"model_type": "xlm-roberta"})  # an encoder (its LM-head variant aside)
    assert is_adapter_config({"model_type": "xlm-roberta", "is_decoder": True})
    assert not is_adapter_config({"model_type": "no-such-family"})


def test_weights_that_do_not_match_are_refused(tmp_path, llama_folder):
    """transformers would fill missing weights with random ones and only warn; the adapter refuses."""
    import json
    import shutil

    folder = tmp_path / "wrong"
    shutil.copytree(llama_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(folder)


def test_threads_share_one_model(llama_folder):
    """Hooks are per call and per thread: concurrent runs give the same arrays as one at a time."""
    model = load_model(llama_folder)
    hooks = lambda: sum(len(m._forward_hooks) for m in model.model.modules())
    texts = ["the cat sat", "a dog ran on the mat", "hello world , one two", TEXT]
    alone = [model.run(t) for t in texts]
    before = hooks()  # transformers installs output-recording hooks of its own on the first call and keeps them
    together: dict[int, AdapterRun] = {}

    def work(i):
        together[i] = model.run(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, run in enumerate(alone):
        np.testing.assert_allclose(together[i].value_output_norms, run.value_output_norms, atol=1e-6)
        np.testing.assert_allclose(together[i].attentions, run.attentions, atol=1e-6)
    assert hooks() == before  # ours were all removed


# ---------------------------------------------------------------- queries, keys and values (qkv=True)


def _assert_qk_page_equals_attention(run, atol=1e-5):
    """The Q·K walk-through's softmax(q·k/√d + causal mask), row by row, against the captured weights."""
    from encoder.analysis import qk_walkthrough

    worst = 0.0
    for layer in range(run.n_layers):
        for head in range(run.n_heads):
            for query in range(run.n_tokens):
                walk = qk_walkthrough(run, layer, head, query)
                worst = max(worst, float(np.abs(walk.softmax - run.attentions[layer, head, query]).max()))
    assert worst < atol, worst
    return worst


def test_llama_queries_and_keys_are_rotated_and_grouped_as_the_attention_uses_them(llama_folder):
    model = load_model(llama_folder)
    run = model.run(TEXT, qkv=True)
    T = run.n_tokens
    assert run.qkv_unavailable is None and model.qkv_unavailable() is None
    assert run.queries.shape == run.keys.shape == run.values.shape == (2, 4, T, 8)
    _assert_qk_page_equals_attention(run)
    assert run.qkv_parity_error < 1e-5
    # grouped-query attention: 4 query heads over 2 KV heads, query head h reads KV head h // 2
    np.testing.assert_array_equal(run.keys[:, 0], run.keys[:, 1])
    np.testing.assert_array_equal(run.values[:, 2], run.values[:, 3])
    assert not np.allclose(run.keys[:, 1], run.keys[:, 2])
    # the keys are those after rotary: position 0 is not rotated (cos 1, sin 0), later ones are
    attention = model.model.model.layers[0].self_attn
    with torch.no_grad():
        normed = model.model.model.layers[0].input_layernorm(torch.tensor(run.hidden_states[0]))  # (T, D)
        plain = attention.k_proj(normed).reshape(T, 2, 8).transpose(0, 1)  # (KV, T, Dh), not rotated
    np.testing.assert_allclose(run.keys[0, 0, 0], plain[0, 0].numpy(), atol=1e-6)
    assert not np.allclose(run.keys[0, 0, 3], plain[0, 3].numpy(), atol=1e-3)
    values = attention.v_proj(normed).reshape(T, 2, 8).transpose(0, 1).detach().numpy()  # values are never rotated
    np.testing.assert_allclose(run.values[0, 1], values[0], atol=1e-6)
    np.testing.assert_allclose(run.values[0, 2], values[1], atol=1e-6)


def test_gpt2_queries_and_keys_from_the_fused_projection(gpt2_folder):
    model = load_model(gpt2_folder)
    run = model.run(TEXT, qkv=True)
    assert run.queries.shape == (2, 4, run.n_tokens, 8)
    _assert_qk_page_equals_attention(run)
    block = model.model.transformer.h[1]
    with torch.no_grad():
        fused = block.attn.c_attn(block.ln_1(torch.tensor(run.hidden_states[1])))  # (T, 3D): q | k | v
    np.testing.assert_allclose(run.queries[1, 2], fused[:, 16:24].numpy(), atol=1e-6)  # head 3's query
    np.testing.assert_allclose(run.values[1, 0], fused[:, 64:72].numpy(), atol=1e-6)


def test_scores_computed_another_way_are_refused_not_shown(llama_folder):
    """A layer whose scale is not 1/√d_head (as in families with their own scalar): the recomputed
    softmax misses the captured weights, so no queries are kept and the run says why."""
    model = load_model(llama_folder)
    for layer in model.model.model.layers:
        layer.self_attn.scaling = 0.05  # instead of 8 ** -0.5
    run = model.run(TEXT, qkv=True)
    assert run.queries is None and run.keys is None
    assert run.qkv_unavailable.startswith(model.name) and "do not give back its attention" in run.qkv_unavailable
    with pytest.raises(ValueError, match="do not give back"):
        from encoder.analysis import qk_walkthrough

        qk_walkthrough(run, 0, 0, 0)


def test_encoder_decoders_say_why_they_have_no_queries(bart_folder):
    model = load_model(bart_folder)
    why = model.qkv_unavailable()
    assert why.startswith(model.name) and "encoder–decoder" in why
    assert model.run(TEXT, qkv=True).queries is None
    assert model.ablation_unavailable().startswith(model.name)


def test_smollm2_queries_and_keys_give_back_its_attention():
    """The real SmolLM2-135M (30 layers, 9 query heads over 3 KV heads, RoPE base 100000)."""
    from encoder.loading import available_models

    info = {m.name: m for m in available_models()}["smollm2"]
    for module in ("gguf", "accelerate"):
        pytest.importorskip(module, reason=f"smollm2 needs {module}: pip install -r requirements-models.txt")
    if not info.installed:
        pytest.skip(f"smollm2 is not installed: {info.install_command}")
    model = load_model("smollm2")
    run = model.run("The capital of France is Paris, and it is beautiful.", qkv=True)
    assert run.queries.shape == (30, 9, run.n_tokens, 64)
    assert _assert_qk_page_equals_attention(run) < 1e-5
    np.testing.assert_array_equal(run.keys[:, 0], run.keys[:, 2])  # query heads 0-2 share KV head 0
