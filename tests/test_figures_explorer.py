"""The Attention page's explorer payload: quantization with a known error bound, the binary layout,
what a rerun leaves out, and the 3 MB budget at 512 tokens."""

from __future__ import annotations

import json
import re
import zlib

import numpy as np
import pytest

from encoder.attention_view import attention_view
from figures import attention as figs
from figures import explorer
from figures.common import LOG_FLOOR
from figures.explorer import reader


def options(view, follow_row=1, window=None) -> explorer.ExplorerOptions:
    n_slots = view.weights.shape[0] * (view.weights.shape[1] + 1)
    return explorer.ExplorerOptions(
        auto_log=False, sizes=figs.NORMAL, block="all", b_start=None, follow_row=follow_row,
        follow_position=follow_row, window=window, captions=tuple(f"caption {i}" for i in range(n_slots)),
        texts={"heads": "h", "means": "m", "overview": "o", "window": "w", "token": "layer {layer}"})


def test_quantized_heads_keep_every_shown_colour():
    """Codes follow log10(weight / head max) over the log colour scale's three decades: relative
    error at most half a step, 10^(3/126) - 1 ≈ 5.6 % a step; under the floor, zero."""
    rng = np.random.default_rng(0)
    heads = rng.dirichlet(np.full(64, 0.3), size=(3, 64)).astype(np.float32)  # (H, Q, K) softmax-like rows
    codes, maxima = explorer.quantize_heads(heads)
    assert codes.dtype == np.uint8 and codes.max() <= explorer.LEVELS
    np.testing.assert_allclose(maxima, heads.max(axis=(1, 2)))
    back = explorer.dequantize_heads(codes, maxima)
    shown = heads >= LOG_FLOOR * maxima[:, None, None]
    half_step = 10 ** (explorer.DECADES / (explorer.LEVELS - 1) / 2) - 1
    relative = np.abs(back[shown] - heads[shown]) / heads[shown]
    assert relative.max() <= half_step + 1e-5 and half_step < 0.03
    assert np.all(back[~shown] == 0) and np.any(~shown)
    assert np.all(back.max(axis=(1, 2)) == pytest.approx(maxima, rel=1e-6))  # each head's top cell exactly


def test_pack_round_trip_keeps_blobs_aligned():
    blobs = [b"abc", np.arange(5, dtype="<f4").tobytes(), b""]
    header, back = explorer.unpack(explorer.pack({"x": 1}, blobs, {"view": '{"y":[1,2]}'}))
    assert back == blobs and header["x"] == 1 and header["view"] == {"y": [1, 2]}
    payload = explorer.pack({}, blobs)
    start = 4 + int.from_bytes(payload[:4], "little")
    assert all((start + offset) % 4 == 0 for offset, _ in header["blobs"])


def test_short_texts_go_exactly_and_reruns_leave_out_what_the_browser_holds(model):
    run = model.run("The cat sat on the mat.")
    view = attention_view(run)
    packed = explorer.Explorer(view, options(view), "app/static/plotly.min.js")
    header, blobs = explorer.unpack(packed.payload(2, 5))
    assert header["view"]["encoding"] == "f32" and header["exact"] is None
    assert [entry["layer"] for entry in header["layers"]] == list(range(6))
    third = next(e for e in header["layers"] if e["layer"] == 2)
    heads = np.frombuffer(blobs[third["blob"]], "<f4").reshape(run.attentions.shape[1:])
    np.testing.assert_array_equal(heads, run.attentions[2])
    titles = header["view"]["titles"][2]
    assert titles[5] == "Layer 3, head 6" and titles[12].endswith("mean of all heads")
    again, blobs = explorer.unpack(packed.payload(4, -1, held={"have": packed.id, "layers": list(range(6))}))
    assert "view" not in again and again["layers"] == [] and blobs == []
    assert again["selection"] == {"layer": 4, "head": -1}
    stale, _ = explorer.unpack(packed.payload(4, -1, held={"have": "another view", "layers": [0]}))
    assert "view" in stale and len(stale["layers"]) == 6


def test_long_texts_send_the_chosen_layer_and_the_shown_head_exactly_within_3_mb(model):
    run = model.run(" ".join(["word", "play"] * 400))
    view = attention_view(run)
    assert run.n_tokens == 512
    window = ((0, 48), (0, 48))
    packed = explorer.Explorer(view, options(view, window=window), "app/static/plotly.min.js")
    payload = packed.payload(0, 3)
    assert len(payload) < 3_000_000, f"{len(payload) / 1e6:.2f} MB"
    header, blobs = explorer.unpack(payload)
    assert header["view"]["encoding"] == "q7log" and [e["layer"] for e in header["layers"]] == [0]
    exact = np.frombuffer(zlib.decompress(blobs[header["exact"]["blob"]]), "<u2").reshape(512, 512)
    # hover prints "%{customdata:.4f}": exactly the digits of the true weight
    np.testing.assert_allclose(exact / header["exact"]["scale"], run.attentions[0, 3], atol=5e-5 + 1e-7)
    assert "%{customdata:.4f}" in json.loads(header["view"]["main"])["data"][0]["hovertemplate"]
    rows = np.frombuffer(zlib.decompress(blobs[header["token_hover"]["blob"]]), "<u2").reshape(6, 12, 512)
    np.testing.assert_allclose(rows / 1e4, run.attentions[:, :, 1, :], atol=5e-5 + 1e-7)
    entry = header["layers"][0]
    codes = np.frombuffer(zlib.decompress(blobs[entry["blob"]]), np.uint8).reshape(12, 512, 512)
    approx = explorer.dequantize_heads(codes, np.asarray(entry["maxima"], np.float32))
    # within the colour scale's floor, every weight is kept to 2.8 %
    kept = run.attentions[0] >= LOG_FLOOR * run.attentions[0].max(axis=(1, 2), keepdims=True)
    assert np.max(np.abs(approx - run.attentions[0])[kept] / run.attentions[0][kept]) < 0.03
    # the next layer, chosen later, comes alone: the view and layer 0 stay in the browser
    later, _ = explorer.unpack(packed.payload(5, -1, held={"have": packed.id, "layers": [0]}))
    assert "view" not in later and [e["layer"] for e in later["layers"]] == [5]
    np.testing.assert_array_equal(json.loads(header["view"]["window"]["figure"])["data"][0].get("z"), None)


def test_titles_carry_text_escaped_for_plotly(model):
    run = model.run("a <b>bold</b> claim")
    view = attention_view(run)
    row = view.query_labels.index("<")
    header, _ = explorer.unpack(explorer.Explorer(view, options(view, follow_row=row), "x").payload(0, 0))
    assert all("<b>" not in title for title in header["view"]["token_titles"])
    assert "&lt;" in header["view"]["token_titles"][0]


# ---------------------------------------------------------------- the protocol, both sides

PROTOCOL = explorer.FOLDER / "PROTOCOL.md"


def protocol_keys(section: str) -> set[str]:
    """The keys of the table under the PROTOCOL.md heading that starts with `section`."""
    text = PROTOCOL.read_text(encoding="utf-8")
    body = text.split(f"\n{section}", 1)[1].split("\n#", 1)[0]
    keys = {row.split("|")[1].strip().strip("`") for row in body.splitlines() if row.startswith("| `")}
    assert keys, section
    return keys


def js_reads(*names: str) -> set[str]:
    """The keys the explorer's JavaScript reads from objects it calls one of `names`, with what it
    destructures from `inst.header` (the view)."""
    source = "\n".join((explorer.FOLDER / name).read_text(encoding="utf-8") for name in explorer.CORE_JS)
    keys = set(re.findall(rf"\b(?:{'|'.join(names)})\.([A-Za-z_]\w*)", source))
    if "header" in names:
        for group in re.findall(r"const \{([^}]*)\} = inst\.header", source):
            keys |= {part.split(":")[0].strip() for part in group.split(",")}
    return keys


JS_OWN = {"templates", "tokenHover"}  # what explorer.js adds to a view it keeps (not sent)


def test_the_packer_and_the_javascript_agree_with_the_protocol(model):
    """PROTOCOL.md's tables are the contract: the packer writes exactly their keys, and the
    JavaScript reads every one of them and nothing else (a renamed key fails here, not in a browser)."""
    view = attention_view(model.run("The cat sat on the mat."))
    packed = explorer.Explorer(view, options(view), "x")
    first, _ = explorer.unpack(packed.payload(0, 0))
    later, _ = explorer.unpack(packed.payload(1, -1, held={"have": packed.id, "layers": [0]}))
    message, entry, view_keys = protocol_keys("### The message header"), protocol_keys("### A layer entry"), \
        protocol_keys("### The view")
    assert set(first) == message and set(later) == message - {"view"}
    assert all(set(e) == entry for e in first["layers"])
    assert set(first["view"]) == view_keys == set(packed.header)
    assert js_reads("header", "view") - JS_OWN == view_keys
    assert js_reads("msg", "message") == message
    assert js_reads("entry") == entry


def test_both_hosts_run_the_same_javascript():
    """The app's component and the notebook widget get the same shared files, joined, then their
    own adapter: one explorer, two hosts."""
    core = "\n".join((explorer.FOLDER / name).read_text(encoding="utf-8") for name in explorer.CORE_JS)
    for host in explorer.HOSTS:
        module = explorer.module_js(host)
        assert module.startswith(core) and module.count("export default") == 1
    with pytest.raises(ValueError):
        explorer.module_js("../etc")


def test_the_reader_rebuilds_what_the_browser_draws(model):
    run = model.run("The cat sat on the mat.")
    view = attention_view(run)
    payload = explorer.Explorer(view, options(view), "x").payload(3, 2, colour={"scale": "Viridis", "mode": "log"})
    shown = reader.shows(payload)
    assert shown["selection"] == (3, 2) and shown["colour"] == ("Viridis", "log")
    np.testing.assert_array_equal(np.asarray(shown["figures"][0]["data"][0]["z"], np.float32), run.attentions[3, 2])
    assert shown["figures"][0]["layout"]["title"]["text"] == "Layer 4, head 3"
    mean = reader.shows(explorer.Explorer(view, options(view), "x").payload(1, -1))
    np.testing.assert_allclose(mean["figures"][0]["data"][0]["z"], run.attentions[1].mean(0), rtol=1e-6)


def test_a_decoders_view_names_each_rows_visible_keys_and_greys_the_rest():
    """Issue 17 §3: masked cells are drawn as masked. A causal view's header says, per row, how many
    keys (a prefix) the mask lets it see, merged words included; the maps' background is grey."""
    from dataclasses import replace

    from encoder.attention_view import AttentionView

    weights = np.tril(np.ones((1, 1, 4, 4), np.float32)) / np.arange(1, 5)[None, None, :, None]
    view = AttentionView(weights, ["a", "b", "c", "d"], ["a", "b", "c", "d"], [[0], [1], [2], [3]],
                         [[0], [1], [2], [3]])
    causal = explorer.Explorer(view, replace(options(view), causal=True), "plotly.js")
    assert causal.header["visible_cols"] == [1, 2, 3, 4]
    assert json.loads(causal.header["main"])["layout"]["plot_bgcolor"] == explorer.packer.MASKED_COLOUR
    merged = AttentionView(weights[..., :3, :3], ["a", "bc", "d"], ["a", "bc", "d"], [[0], [1, 2], [3]],
                           [[0], [1, 2], [3]])
    assert explorer.visible_columns(merged) == [1, 2, 3]
    encoder_view = explorer.Explorer(view, options(view), "plotly.js")
    assert encoder_view.header["visible_cols"] is None
    assert "plot_bgcolor" not in json.loads(encoder_view.header["main"])["layout"] or json.loads(
        encoder_view.header["main"])["layout"]["plot_bgcolor"] != explorer.packer.MASKED_COLOUR
