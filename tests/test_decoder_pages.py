"""Every page × every installed bundled model × a short and a ~512-token text (issue 17 §3): no
exception box, and either a chart or a message that names the model and says what it lacks.

The long column runs for smollm2 (the decoder, the slow one) and minilm-l6 (the default encoder)
only, so the matrix fits CI on two cores; HEADLIGHT_FULL_PAGE_MATRIX=1 runs it for every model.
An uninstalled model is skipped with the command that installs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from apptest import app_test

import registry
from encoder.loading import available_models

MODELS = {info.name: info for info in available_models()}
SHORT = "The animal didn't cross the street because it was too tired."
# About 512 tokens for the BERT tokenizers (cut to 512 there, with a warning) and ~500 for SmolLM2's.
LONG = " ".join([
    "Maria Garcia moved to Lisbon in the spring, and she found a small flat near the river.",
    "The trophy didn't fit in the suitcase because it was too big, so they left it behind.",
    "Every morning the baker opened his shop at six, and the smell of bread filled the street.",
    "Nobody expected the storm, yet by noon the harbour was full of boats seeking shelter.",
] * 6)
LONG_MODELS = {"smollm2", "minilm-l6"}
FULL = os.environ.get("HEADLIGHT_FULL_PAGE_MATRIX") == "1"
# Pages that read the text draw it for every model and length; pages that read only the model (Corpus
# waits for its own Run) or nothing (Lab) are checked for an exception once per model, or once.
# Every view of the pages that read text: a page's own (its first view), each view that has an old
# address (registry.FORWARDS, opened as the forward opens it), and the views that have none.
VIEWS_WITHOUT_ADDRESS = {"attr_view": ["Gradients and perturbation"]}
TEXT_PAGES = [Path(p.script).stem for p in registry.PAGES if p.uses == "text"] + [
    old.url_path for old in registry.FORWARDS if registry.by_title(old.to).uses == "text"] + [
    f"{setting}={view}" for setting, views in VIEWS_WITHOUT_ADDRESS.items() for view in views]
CASES = [pytest.param(page, model, length, id=f"{page}-{model}-{length}")
         for model in MODELS for length in ("short", "long") if length == "short" or FULL or model in LONG_MODELS
         for page in TEXT_PAGES]


def _page_and_view(page: str) -> tuple[str, dict]:
    """A case's page and the settings that choose its view ("attr_view=..." opens Attribution on it)."""
    if "=" not in page:
        return page, {}
    setting, view = page.split("=", 1)
    owner = next(p for p in registry.PAGES if setting in p.link)
    return Path(owner.script).stem, {setting: view}
OTHER_CASES = [pytest.param(Path(p.script).stem, model, id=f"{Path(p.script).stem}-{model}")
               for p in registry.PAGES if p.uses != "text"
               for model in (MODELS if p.uses == "model" else ["minilm-l6"])]


def _messages(at) -> list[str]:
    """Every sentence the page shows outside its charts: boxes, plain text, captions, markdown."""
    found = []
    for kind in ("info", "warning", "error", "success", "text", "caption", "markdown"):
        found += [str(element.value) for element in at.get(kind)]
    return [m.replace("\\", "") for m in found]  # names are shown Markdown-escaped ("SmolLM2\\-135M")


@pytest.mark.parametrize(("page", "model", "length"), CASES)
def test_every_page_works_or_says_why_for_every_model(page, model, length):
    info = MODELS[model]
    if not info.installed:
        pytest.skip(f"{model} is not installed: {info.install_command}")
    # Head ablation ranks every head by default where that is cheap in parameter-token products; on a
    # busy two-core runner SmolLM2's 271 passes plus its classifier's training outlast AppTest's 120 s.
    options = {"abl_rank": False} if page == "ablation" and model == "smollm2" else {}
    if page == "similarity":  # it compares the sidebar's two sentences, each read alone
        options["pair"] = "A tired animal stayed on the pavement."
    page, view = _page_and_view(page)
    at = app_test(page, text=SHORT if length == "short" else LONG, model_source=model, **options, **view)
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart") + at.get("bidi_component")  # the Attention page draws through its explorer
    named = [m for m in _messages(at) if info.display_name in m]
    assert charts or named, f"{page} on {model} showed neither a chart nor a sentence naming {info.display_name}"


@pytest.mark.parametrize(("page", "model"), OTHER_CASES)
def test_pages_without_text_open_for_every_model(page, model):
    info = MODELS[model]
    if not info.installed:
        pytest.skip(f"{model} is not installed: {info.install_command}")
    at = app_test(page, text=SHORT, model_source=model)
    assert not at.exception, [e.value for e in at.exception]
