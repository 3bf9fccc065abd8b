"""The line view's payload (issue 20 §1): within the explorer's byte budget at 512 tokens, a window
around the followed token on long texts, each query's strongest lines with their exact weights, and
an offline file in which no label can close its script. The app's message (issue 18 §1): the layer's
attention as captured on the tokens the window holds in every view option, within the budget, with
each row's weight elsewhere so renormalising sees the whole row (the browser's lines against Python's:
tests/e2e/test_lineview_transforms.py)."""

from __future__ import annotations

import json

import numpy as np

from figures import lineview


def test_a_512_token_layer_fits_the_budget_and_keeps_each_querys_strongest_lines():
    rng = np.random.default_rng(0)
    attentions = rng.dirichlet(np.full(512, 0.05), size=(12, 512))  # (H, T, T), rows sum to 1
    labels = [f"tok{i}" for i in range(512)]
    data = lineview.payload(attentions, labels, 3, followed=300)
    assert lineview.payload_bytes(data) <= lineview.BUDGET_BYTES
    start = data["positions"][0]
    assert len(data["labels"]) == lineview.WINDOW and start <= 300 < start + lineview.WINDOW
    window = attentions[:, start:start + lineview.WINDOW, start:start + lineview.WINDOW]
    for head in data["heads"]:
        lines = np.asarray(head["lines"])
        assert len(lines) <= lineview.WINDOW * lineview.TOP_KEYS
        for q in range(lineview.WINDOW):
            mine = lines[lines[:, 0] == q]
            expected = np.sort(window[head["head"], q])[::-1][:lineview.TOP_KEYS]
            expected = expected[expected >= lineview.MIN_WEIGHT]
            np.testing.assert_allclose(np.sort(mine[:, 2])[::-1], expected, atol=5e-5)
    assert data["note"] == f"The {lineview.WINDOW} tokens around the followed token, of 512; lines within them."


def test_a_short_text_draws_every_token_and_the_chosen_heads():
    attentions = np.full((4, 5, 5), 0.2)
    data = lineview.payload(attentions, list("abcde"), 0, heads_on=[2, 9])
    assert data["labels"] == list("abcde") and data["on"] == [2] and data["note"] == ""
    assert len({h["colour"] for h in data["heads"]}) == 4


def test_rows_are_labelled_with_the_run_positions_they_stand_for():
    """With [CLS] hidden or words merged, row i is not token i: the labels say "word ·position" as
    every page does, and a followed token the view hides is said, not silently replaced."""
    data = lineview.payload(np.full((1, 3, 3), 1 / 3), ["Dogs", "barking", "loudly"], 0, positions=[1, 2, 4],
                            followed=None, hidden="hidden here")
    assert data["positions"] == [1, 2, 4] and data["hidden"] == "hidden here"
    assert lineview.payload(np.full((1, 3, 3), 1 / 3), list("abc"), 0, hidden="hidden here")["hidden"] == ""


def test_the_apps_message_holds_every_views_window_within_the_budget(model):
    from encoder.attention_view import ViewOptions, groups_of, kept_positions, row_of_position, window_span
    from figures.explorer.packer import unpack

    run = model.run(" ".join(["Unbelievably, the tokenizers' behaviour surprised everyone."] * 40)[:2400])
    assert run.n_tokens > 400
    follow, layer = 250, 4
    shown = {"hide": False, "renormalize": True, "merge": False, "follow": follow}
    message = lineview.message(run, layer, shown, heads_on=[0], title="t")
    assert lineview.payload_bytes(message) <= lineview.BUDGET_BYTES
    header, (weights, rest) = unpack(message)
    sent = header["sent"]
    assert header["layouts"] == [list(layout) for layout in lineview.LAYOUTS]
    assert len(sent) < run.n_tokens and header["tokens"]["labels"] == list(run.tokenized.labels)
    for hide, merge in lineview.LAYOUTS:  # each view's window is held whole
        groups = groups_of(run, kept_positions(run, ViewOptions(hide, True, merge))[0], merge)
        start, stop = window_span(len(groups), row_of_position(groups, follow), lineview.WINDOW)
        assert {p for g in groups[start:stop] for p in g} <= set(sent)
    n_heads = run.n_heads
    held = np.frombuffer(weights, "<f4").reshape(n_heads, len(sent), len(sent))
    np.testing.assert_array_equal(held, run.attentions[layer][:, sent][:, :, sent])
    whole = run.attentions[layer][:, sent].sum(axis=-1, dtype=np.float64)  # (H, n)
    elsewhere = np.frombuffer(rest, "<f4").reshape(n_heads, len(sent))
    np.testing.assert_allclose(held.sum(axis=-1, dtype=np.float64) + elsewhere, whole, atol=1e-6)
    assert header["elsewhere"] not in sent and header["shown"]["block"] == "all"


def test_the_offline_file_keeps_hostile_labels_as_data():
    hostile = "</script><script>alert(1)</script>"
    data = lineview.payload(np.full((1, 2, 2), 0.5), [hostile, "b"], 0)
    page = lineview.standalone_html(data)
    assert page.count("</script>") == 2  # the data block's and the code's own: no label closes one
    blob = page.split("type='application/json'>")[1].split("</script>")[0]
    assert json.loads(blob)["labels"][0] == hostile


def test_views_whose_window_would_break_the_budget_are_left_to_the_server(model):
    """Long words of many pieces: the merged view's 48 words hold hundreds of tokens. The view shown
    is always sent; another view whose tokens would pass `BUDGET_BYTES` is not, and the browser then
    waits for the server's message to draw it (lineview.js `canDraw`)."""
    from figures.explorer.packer import unpack

    run = model.run(" ".join(["Antidisestablishmentarianistically"] * 80))
    shown = {"hide": True, "renormalize": True, "merge": False, "follow": 100}
    message = lineview.message(run, 0, shown, heads_on=[0], title="t")
    header, _ = unpack(message)
    assert lineview.payload_bytes(message) <= lineview.BUDGET_BYTES
    assert header["layouts"][0] == [True, False] and [True, True] not in header["layouts"]


def test_the_line_views_fragment_and_downloads_hold_no_run():
    """The fragment keeps only the key that finds the run, and the downloads only names and choices
    (tests/test_session_memory.py: a session must not keep a run alive past the caches)."""
    from apptest import app_test
    from test_session_memory import alive

    import state
    from encoder import Run

    at = app_test(None, text="Zebras graze near the line view at dawn.", att_view="Lines")
    assert not at.exception
    assert alive(Run, "Zebras"), "the page should have run the text (else this test proves nothing)"
    state.run_cache().clear()
    state.explorer_cache().clear()
    assert not alive(Run, "Zebras")


def test_the_browser_reads_every_key_the_message_has_and_no_other(model):
    """The message's header (figures.lineview.message) against what lineview.js and its Streamlit
    adapter read from it (`header.<key>`, or `h.<key>` with h the header): no key sent for nothing,
    none read that is never sent."""
    import re

    from figures.explorer.packer import unpack

    run = model.run("Dogs bark loudly at night.")
    header, _ = unpack(lineview.message(run, 0, {"hide": False, "renormalize": True, "merge": False, "follow": 1},
                                        heads_on=[0], title="t"))
    script = "\n".join((lineview.FOLDER / name).read_text(encoding="utf-8") for name in ("lineview.js", "streamlit.js"))
    read = {a or b for a, b in re.findall(r"\bheader\.(\w+)|\bh\.(\w+)", script)}
    assert read == set(header) - {"blobs"}  # the blobs' places are payload.js readPayload's
