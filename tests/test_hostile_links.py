"""Links a hostile (or careless) visitor could share: every value is checked before a widget or a
loader sees it, the page says in one line which value it did not use, and nothing echoes a path
or shows a traceback (issue 16, findings 4 and 8)."""

from __future__ import annotations

import pytest
from apptest import ROOT, TIMEOUT, messages, open_page
from streamlit.testing.v1 import AppTest


def open_link(page: str | None, **params: str) -> AppTest:
    """The app opened with a link's query parameters, then (as a click would) on pages/<page>.py."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.session_state["text"] = "Dogs bark loudly at night."
    at.run()
    said = messages(at)
    if page:
        open_page(at, page)
    return at, said


@pytest.mark.parametrize("page,key,value", [
    ("rollout", "roll_residual", "2"), ("rollout", "roll_residual", "nan"), ("rollout", "roll_residual", "-0.1"),
    ("qk", "qk_temperature", "0"), ("qk", "qk_temperature", "6"), ("qk", "qk_temperature", "nan"),
    ("positional", "pos_dims", "0,1,2,3,4,5,6,7,8"), ("methods", "meth_k", "100"),
])
def test_an_out_of_range_setting_is_refused_with_a_note(page, key, value):
    at, said = open_link(page, **{key: value})
    assert not at.exception, [e.message for e in at.exception]
    assert f"The link's value for {key} was not used" in said
    assert key not in at.session_state or str(at.session_state[key]) != value


@pytest.mark.parametrize("model,shown", [
    ("folder:does-not-exist", "“does-not-exist” is not available on this server"),
    ("/etc/passwd", "The model the link names is not available on this server"),
    ("../../etc", "The model the link names is not available on this server"),
    ("hub:org/name", "“org/name” is on the Hugging Face Hub, and this server does not fetch models"),
])
def test_a_model_the_server_does_not_offer_is_named_not_silently_replaced(model, shown, monkeypatch):
    monkeypatch.setenv("HEADLIGHT_ALLOW_HUB", "0")
    monkeypatch.delenv("HEADLIGHT_MODELS_DIR", raising=False)
    at, said = open_link(None, model=model)
    assert not at.exception
    said = said.replace("\\", "")  # names are Markdown-escaped
    assert shown in said and "Showing all-MiniLM-L6-v2 instead" in said, said
    assert "passwd" not in said and "/etc" not in said
    assert at.session_state["model_source"] == "minilm-l6"


def test_a_models_folder_link_to_a_missing_folder_does_not_open_another(tmp_path, monkeypatch):
    from checkpoints import write_checkpoint

    write_checkpoint(tmp_path / "real-model")
    monkeypatch.setenv("HEADLIGHT_MODELS_DIR", str(tmp_path))
    at, said = open_link(None, model="folder:does-not-exist")
    said = said.replace("\\", "")
    assert "“does-not-exist” is not available on this server" in said
    assert at.session_state["model_source"] == "minilm-l6"
    assert str(tmp_path) not in said


@pytest.mark.parametrize("raw", ["-5", "0", "99999999999999999999"])
def test_a_dropped_text_of_impossible_length_is_refused(raw):
    at, said = open_link(None, text_dropped=raw)
    assert not at.exception
    assert "-character text" not in said and raw not in said
    assert "The link's value for text_dropped was not used" in said


def test_a_models_folder_model_over_the_servers_weight_budget_is_refused_before_it_is_built(tmp_path, monkeypatch):
    """HEADLIGHT_MODEL_MAX_MB bounds each kept model's float32 weights; the check reads the config only."""
    from checkpoints import hf_config, write_checkpoint

    import state

    write_checkpoint(tmp_path / "wide", hf_config(hidden_size=512, intermediate_size=2048, num_attention_heads=8))
    monkeypatch.setenv("HEADLIGHT_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv(state.MODEL_MAX_MB_ENV, "1")  # 262,144 parameters; this one has about 6.4 million
    assert state.model_limits().max_parameters == 262_144
    at, _ = open_link(None, model="folder:wide")
    assert not at.exception
    said = "\n".join(str(e.value) for e in at.get("error")) + "\n".join(str(e.value) for e in at.get("text"))
    assert "could not be loaded" in said, said
    assert "6.3 million parameters (25 MB as float32), more than the 0.3 million (1 MB)" in said, said
    assert str(tmp_path) not in said
