"""The Attention page's explorer payload: quantization with a known error bound, the binary layout,
what a rerun leaves out, and the 3 MB budget at 512 tokens."""

from __future__ import annotations

import dataclasses
import json
import re
import zlib

import numpy as np
import pytest

from encoder.attention_view import ViewOptions, attention_view, map_view, view_row
from figures import attention as figs
from figures import explorer
from figures.common import LOG_FLOOR
from figures.explorer import reader


def options(causal: bool = False) -> explorer.ExplorerOptions:
    return explorer.ExplorerOptions(sizes=figs.NORMAL, causal=causal, texts={
        "heads": "h", "means": "m", "overview": "o", "window": "w {window}", "token": "layer {layer}", "colour": "c",
        "hidden": {"special": "s", "block": "b {block}"}, "nothing": "n",
        "rows": {"one": "one", "other": "{low}–{high}{reason}", "hidden": "hid", "block": "blk {block} {sentence}",
                 "b_note": " b {row}"}})


def test_quantized_rows_keep_every_shown_colour_in_any_view():
    """Codes follow log10(weight / the row's largest weight on an ordinary token) over the log colour
    scale's three decades: relative error at most half a step, 10^(3/126) - 1 ≈ 5.6 % a step; under
    the floor, zero; the special columns go exactly. Against the row, not the head: once [SEP] is
    hidden and the row renormalised, what was under a thousandth of the head's maximum is shown."""
    rng = np.random.default_rng(0)
    heads = rng.dirichlet(np.full(64, 0.3), size=(3, 64)).astype(np.float32)  # (H, Q, K) softmax-like rows
    heads[..., 5] += 50 * heads.max()  # a [SEP] that takes nearly everything
    heads /= heads.sum(-1, keepdims=True)
    special = [0, 5]
    codes, maxima, specials = explorer.quantize_heads(heads, special)
    assert codes.dtype == np.uint8 and codes.max() <= explorer.LEVELS and maxima.shape == (3, 64)
    assert np.all(codes[..., special] == 0)
    back = explorer.dequantize_heads(codes, maxima, specials, special)
    np.testing.assert_array_equal(back[..., special], heads[..., special])
    ordinary = np.delete(heads, special, axis=-1)
    np.testing.assert_allclose(maxima, ordinary.max(-1), rtol=1e-6)
    shown = heads >= LOG_FLOOR * maxima[..., None]
    shown[..., special] = False
    half_step = 10 ** (explorer.DECADES / (explorer.LEVELS - 1) / 2) - 1
    relative = np.abs(back[shown] - heads[shown]) / heads[shown]
    assert relative.max() <= half_step + 1e-5 and half_step < 0.03
    assert (heads[shown] < 1e-3 * heads.max()).any()  # kept although under a thousandth of the head's maximum


def test_pack_round_trip_keeps_blobs_aligned():
    blobs = [b"abc", np.arange(5, dtype="<f4").tobytes(), b""]
    header, back = explorer.unpack(explorer.pack({"x": 1}, blobs, {"view": '{"y":[1,2]}'}))
    assert back == blobs and header["x"] == 1 and header["view"] == {"y": [1, 2]}
    payload = explorer.pack({}, blobs)
    start = 4 + int.from_bytes(payload[:4], "little")
    assert all((start + offset) % 4 == 0 for offset, _ in header["blobs"])


def test_short_texts_go_exactly_and_reruns_leave_out_what_the_browser_holds(model):
    run = model.run("The cat sat on the mat.")
    packed = explorer.Explorer(run, options(), "app/static/plotly.min.js")
    header, blobs = explorer.unpack(packed.payload(2, 5))
    assert header["view"]["encoding"] == "f32" and header["exact"] is None and header["grids"] is None
    assert [entry["layer"] for entry in header["layers"]] == list(range(6))
    third = next(e for e in header["layers"] if e["layer"] == 2)
    heads = np.frombuffer(blobs[third["blob"]], "<f4").reshape(run.attentions.shape[1:])
    np.testing.assert_array_equal(heads, run.attentions[2])
    titles = header["view"]["titles"][2]
    assert titles[5] == "Layer 3, head 6" and titles[12].endswith("mean of all heads")
    assert header["view"]["tokens"]["labels"] == run.tokenized.labels
    again, blobs = explorer.unpack(packed.payload(4, -1, held={"have": packed.id, "layers": list(range(6))}))
    assert "view" not in again and again["layers"] == [] and blobs == []
    assert again["selection"] == {"layer": 4, "head": -1}
    stale, _ = explorer.unpack(packed.payload(4, -1, held={"have": "another view", "layers": [0]}))
    assert "view" in stale and len(stale["layers"]) == 6


def test_one_packed_run_serves_every_view_option(model):
    """The view options travel with each message (`shown`) and the browser applies them: the
    explorer, its id and its layers are the same for every option."""
    run = model.run("Unbelievably, the tokenizer's behaviour surprised everyone.")
    packed = explorer.Explorer(run, options(), "x")
    hidden = explorer.Shown(ViewOptions(hide_special=True, merge_subwords=True), follow=3, window=24)
    header, _ = explorer.unpack(packed.payload(0, 0, hidden))
    assert header["shown"] == {"hide": True, "renormalize": True, "merge": True, "block": "all", "follow": 3,
                               "window": 24}
    assert header["id"] == packed.id == explorer.unpack(packed.payload(0, 0))[0]["id"]
    words = header["view"]["tokens"]["words"]
    assert "Unbelievably" in words.values() and "tokenizer" in words.values()


def test_long_texts_stream_their_layers_after_the_first_view_with_exact_hover_in_the_view_shown(model):
    run = model.run(" ".join(["word", "play"] * 400))
    assert run.n_tokens == 512
    packed = explorer.Explorer(run, options(), "app/static/plotly.min.js")
    shown = explorer.Shown(ViewOptions(hide_special=True, merge_subwords=True), follow=7, window=48)
    payload = packed.payload(0, 3, shown)
    assert len(payload) < 3_000_000, f"{len(payload) / 1e6:.2f} MB"
    header, blobs = explorer.unpack(payload)
    assert header["view"]["encoding"] == "q7log" and header["view"]["stream"]
    assert [e["layer"] for e in header["layers"]] == [0]  # the first view: the chosen layer alone
    expected = map_view(run, run.attentions[0], shown.options).weights[3]  # (Q', K') the head, in the view shown
    exact = np.frombuffer(zlib.decompress(blobs[header["exact"]["blob"]]), "<u2").reshape(expected.shape)
    # hover prints "%{customdata:.4f}": exactly the digits of the true weight in this view
    np.testing.assert_allclose(exact / header["exact"]["scale"], expected, atol=5e-5 + 1e-7)
    assert header["exact"]["key"] == shown.key and header["exact"]["rows"] == pytest.approx(
        [expected.sum(-1).min(), expected.sum(-1).max()])
    assert "%{customdata:.4f}" in json.loads(header["view"]["main"])["data"][0]["hovertemplate"]
    row = view_row(run, run.attentions, shown.options, 7)
    rows = np.frombuffer(zlib.decompress(blobs[header["token_hover"]["blob"]]), "<u2").reshape(row.shape)
    np.testing.assert_allclose(rows / 1e4, row, atol=5e-5 + 1e-7)
    # the browser holds one layer: the means and the overview come painted, in this view
    assert header["grids"]["key"] == shown.key and header["grids"]["overview"].startswith("data:image/png")
    # then the other layers follow, nearest first, a few megabytes a message, until the browser holds all
    held, messages = [0], 0
    while len(held) < 6:
        later, _ = explorer.unpack(packed.payload(0, 3, shown, held={"have": packed.id, "layers": held}))
        sent = [e["layer"] for e in later["layers"]]
        assert sent and sent == sorted(sent) and "view" not in later
        held += sent
        messages += 1
    assert sorted(held) == list(range(6)) and messages <= 4
    last, _ = explorer.unpack(packed.payload(5, -1, shown, held={"have": packed.id, "layers": held}))
    assert last["layers"] == [] and last["grids"] is None  # the browser paints them now


def test_the_hosts_own_reruns_leave_out_what_their_messages_carried_since_the_browsers_report(model):
    """The browser reports its holdings only when it asks (`asked` numbers the reports); the host's
    own reruns (a view option, the link) must not send again what the messages since carried: a
    short text's whole message, a long text's last streamed layer (figures.explorer.holdings)."""
    from figures.explorer import holdings

    packed = explorer.Explorer(model.run("The cat sat on the mat."), options(), "x")
    report, delivered = {}, None  # a first view: the browser has said nothing yet
    first = packed.payload(2, 5, held=holdings.held_now(report, delivered))
    delivered = holdings.delivered_after(report, delivered, first)
    assert delivered == {"asked": None, "have": packed.id, "layers": list(range(6))}
    hidden = explorer.Shown(ViewOptions(hide_special=True))
    again, blobs = explorer.unpack(packed.payload(2, 5, hidden, held=holdings.held_now(report, delivered)))
    assert "view" not in again and again["layers"] == [] and blobs == []  # was the whole message again
    # a new report is the browser's own word: one that lost the view gets it whole
    lost = {"have": None, "layers": [], "asked": 1}
    whole, _ = explorer.unpack(packed.payload(2, 5, held=holdings.held_now(lost, delivered)))
    assert "view" in whole and len(whole["layers"]) == 6
    # a long text: the report asked for the last layers; the message carrying them is recorded
    long = explorer.Explorer(model.run(" ".join(["word", "play"] * 400)), options(), "x")
    asking = {"have": long.id, "layers": [0, 1, 2, 3, 4], "asked": 7}
    last = long.payload(0, 3, held=holdings.held_now(asking, None))
    assert [e["layer"] for e in explorer.unpack(last)[0]["layers"]] == [5]
    delivered = holdings.delivered_after(asking, None, last)
    rerun, _ = explorer.unpack(long.payload(0, 3, hidden, held=holdings.held_now(asking, delivered)))
    assert rerun["layers"] == [] and rerun["exact"]["key"] == hidden.key  # only the view's exact hover
    # what a browser reports is anyone's JSON: only its ints count as layers
    hostile = {"have": long.id, "layers": [{"x": 1}, "2", True, 3], "asked": 7}
    assert holdings.held_now(hostile, {"asked": 7, "have": long.id, "layers": [5]})["layers"] == [3, 5]
    for layers in (5, "012345", {"0": 1}, [99, -1, 2]):  # none of these breaks a message or is taken for held
        header, _ = explorer.unpack(long.payload(2, 0, held={"have": long.id, "layers": layers}))
        sent = [e["layer"] for e in header["layers"]]
        assert set(sent) <= set(range(6)) and (2 in sent) == (layers != [99, -1, 2]), (layers, sent)
        assert header["grids"] is not None  # the browser holds some layers at most: the server paints them


def test_the_thumbnails_templates_do_not_depend_on_the_maps(model):
    """The packer builds the thumbnails' templates from 1 x 1 maps (their images are dropped and
    every map fills its tile): the same JSON as from the run's own maps, short text and long."""
    from figures.explorer.packer import _template

    for text in ("The cat sat on the mat.", " ".join(["word", "play"] * 60)):
        view = attention_view(model.run(text))
        tiny = dataclasses.replace(view, weights=np.zeros((*view.weights.shape[:2], 1, 1), np.float32))
        for grid, args in ((figs.layer_heads_grid, (0, -1)), (figs.layer_means_grid, (0, 0)),
                           (figs.overview_grid, (2, 3))):
            assert _template(grid(view, *args), drop="source") == _template(grid(tiny, *args), drop="source")


def test_a_view_that_leaves_nothing_is_sent_without_hover(model):
    run = model.run("[SEP]")
    packed = explorer.Explorer(run, options(), "x")
    header, _ = explorer.unpack(packed.payload(0, 0, explorer.Shown(ViewOptions(hide_special=True))))
    assert header["exact"] is None and header["grids"] is None


def test_the_token_table_carries_text_raw_and_titles_escaped_for_plotly(model):
    run = model.run("a <b>bold</b> claim")
    header, _ = explorer.unpack(explorer.Explorer(run, options(), "x").payload(0, 0))
    assert "<" in header["view"]["tokens"]["labels"]  # raw: the browser escapes what Plotly reads
    shown = reader.shows(explorer.Explorer(run, options(), "x").payload(
        0, 0, explorer.Shown(follow=run.tokenized.labels.index("<"))))
    token_title = shown["figures"][-1]["layout"]["title"]["text"]
    assert "<b>" not in token_title and "&lt;" in token_title


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
    files = (*explorer.CORE_JS, *(f"{host}.js" for host in explorer.HOSTS))
    source = "\n".join((explorer.FOLDER / name).read_text(encoding="utf-8") for name in files)
    source = re.sub(r"\b\w+\.js\b", "", source)  # file names in comments ("view.js") are no keys
    keys = set(re.findall(rf"\b(?:{'|'.join(names)})\??\.([A-Za-z_]\w*)", source))
    if "header" in names:
        for group in re.findall(r"const \{([^}]*)\} = inst\.header", source):
            keys |= {part.split(":")[0].strip() for part in group.split(",")}
    return keys


JS_OWN = {"templates"}  # what explorer.js adds to a view it keeps (not sent)


def test_the_packer_and_the_javascript_agree_with_the_protocol(model):
    """PROTOCOL.md's tables are the contract: the packer writes exactly their keys, and the
    JavaScript reads every one of them and nothing else (a renamed key fails here, not in a browser)."""
    long_run = model.run(" ".join(["word", "play"] * 100))
    packed = explorer.Explorer(long_run, options(), "x")
    first, _ = explorer.unpack(packed.payload(0, 0))
    later, _ = explorer.unpack(packed.payload(1, -1, held={"have": packed.id, "layers": [0]}))
    message, entry, view_keys = protocol_keys("### The message header"), protocol_keys("### A layer entry"), \
        protocol_keys("### The view")
    assert set(first) == message and set(later) == message - {"view"}
    assert all(set(e) == entry for e in first["layers"] + later["layers"])
    assert set(first["view"]) == view_keys == set(packed.header)
    assert js_reads("header", "view") - JS_OWN == view_keys
    assert js_reads("msg", "message") == message
    assert js_reads("entry") == entry
    assert set(first["shown"]) == protocol_keys("### Shown")


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
    payload = explorer.Explorer(run, options(), "x").payload(3, 2, colour={"scale": "Viridis", "mode": "log"})
    shown = reader.shows(payload)
    assert shown["selection"] == (3, 2) and shown["colour"] == ("Viridis", "log")
    np.testing.assert_array_equal(np.asarray(shown["figures"][0]["data"][0]["z"], np.float32), run.attentions[3, 2])
    assert shown["figures"][0]["layout"]["title"]["text"] == "Layer 4, head 3"
    mean = reader.shows(explorer.Explorer(run, options(), "x").payload(1, -1))
    np.testing.assert_allclose(mean["figures"][0]["data"][0]["z"], run.attentions[1].mean(0), rtol=1e-6)
    hidden = explorer.Shown(ViewOptions(hide_special=True, merge_subwords=True, renormalize=False), follow=2)
    view = map_view(run, run.attentions, hidden.options)
    drawn = reader.shows(explorer.Explorer(run, options(), "x").payload(1, 4, hidden))
    np.testing.assert_allclose(drawn["figures"][0]["data"][0]["z"], view.weights[1, 4], atol=1e-7)
    assert drawn["labels"] == (view.query_labels, view.key_labels)
    assert drawn["captions"][0].endswith("hid")  # rows no longer sum to 1, and the caption says why


def test_a_decoders_view_is_drawn_on_the_masked_grey():
    """Issue 17 §3: masked cells are drawn as masked: a causal view's maps have the grey background
    the browser leaves showing where a row's keys end (transform.js `visibleColumns`)."""
    from types import SimpleNamespace

    weights = (np.tril(np.ones((1, 1, 4, 4), np.float32)) / np.arange(1, 5)[None, None, :, None]).astype(np.float32)
    run = SimpleNamespace(attentions=weights, nbytes=weights.nbytes, n_tokens=4, special=[False] * 4,
                          segment_ids=[0] * 4, word_ids=[0, 1, 2, 3], is_pair=False, tokenized=SimpleNamespace(
                              labels=["a", "b", "c", "d"]), tokens=["a", "b", "c", "d"], text_a="a b c d",
                          text_b=None, offsets=[(0, 1), (2, 3), (4, 5), (6, 7)])
    causal = explorer.Explorer(run, options(causal=True), "plotly.js")
    assert causal.header["causal"] is True
    assert json.loads(causal.header["main"])["layout"]["plot_bgcolor"] == explorer.packer.MASKED_COLOUR
    encoder_view = explorer.Explorer(run, options(), "plotly.js")
    assert json.loads(encoder_view.header["main"])["layout"].get("plot_bgcolor") != explorer.packer.MASKED_COLOUR
