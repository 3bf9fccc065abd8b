"""End to end: every address from before the pages were merged (registry.FORWARDS) still opens the
view it showed, with the settings its link carries, on a warm server and as a fresh server's first
request (which Streamlit's legacy pages/ mode serves)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bench.browser import FIRST_RUN_TIMEOUT, MAIN, PAGES, VIEW_BUTTON, VIEWS, App
from registry import FORWARDS

TEXT = "Dogs bark loudly at night."
# For each old address: a setting its old links carried, and what the page then shows for it.
CARRIED = {
    "rollout": ({"roll_fusion": "max"}, "max of heads"),
    "value_weighted": ({}, "What each token receives"),
    "methods": ({"meth_k": "2"}, "top 2"),
    "qk": ({"qk_temperature": "2.0"}, "From scores to weights"),
    "similarity": ({"sim_text_b": "Cats meow softly."}, "share of the cosine"),
    "ablation": ({"abl_off": "1"}, "1 of 72"),
    "compare": ({}, "Model B"),
}


def opens_its_view(app: App, old: str, params: dict[str, str], shown: str) -> None:
    page_name, view = VIEWS[old]
    app.open(f"/{old}", charts=False, text=TEXT, **params)
    app.page.wait_for_function(f"location.pathname === {PAGES[page_name][1]!r}", timeout=FIRST_RUN_TIMEOUT)
    # The page's view control (not a view's own button group) shows the old address's view.
    expect(app.page.locator(f"{VIEW_BUTTON}[aria-checked='true']")).to_have_text(view, timeout=FIRST_RUN_TIMEOUT)
    app.page.locator(MAIN).get_by_text(shown).first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    app.assert_no_exception()
    query = app.wait_for_query(text=TEXT)
    for key, value in params.items():
        if key == "sim_text_b":  # Similarity's own second text is the sidebar's pair now
            assert app.text_values()[1] == value and query.get("pair") == value
        else:
            assert query.get(key) == value, (old, key, query)


def test_every_forward_is_covered():
    assert set(CARRIED) == {old.url_path for old in FORWARDS}


@pytest.mark.parametrize("old", sorted(CARRIED))
def test_an_old_address_opens_its_view(app: App, old: str):
    params, shown = CARRIED[old]
    opens_its_view(app, old, params, shown)


def test_an_old_address_as_a_fresh_servers_first_request(make_app, fresh_server):
    opens_its_view(make_app(fresh_server), "rollout", *CARRIED["rollout"])
