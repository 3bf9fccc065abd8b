"""Links: texts plain or compressed, page settings by type, and what does not fit is said."""

from __future__ import annotations

import random

import pytest
from apptest import ROOT

import registry
import url


@pytest.mark.parametrize("text", ["Short and sweet.", "word " * 3_000, "naïve café 東京 🎉 " * 900])
def test_texts_round_trip_through_a_link(text):
    params = url.text_params("text", text)
    assert sum(len(v) for v in params.values()) <= url.MAX_LINK_CHARS
    assert url.text_from_params(params, "text") == (text, None)


def test_a_long_text_travels_compressed_up_to_the_text_box_limit():
    text = ("The committee met on Tuesday to discuss the budget, the new library and the roads. " * 700)[
        : url.MAX_TEXT_CHARS]
    params = url.text_params("text", text)
    assert list(params) == ["textz"]
    assert url.text_from_params(params, "text") == (text, None)


def test_a_text_that_cannot_fit_is_named_not_silently_dropped():
    rng = random.Random(0)
    noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789ÀÉÎØÜ東京😀") for _ in range(url.MAX_TEXT_CHARS))
    params = url.text_params("text", noise)
    assert params == {"text_dropped": str(len(noise))}
    assert url.text_from_params(params, "text") == (None, len(noise))
    assert url.fit_notes(noise, None) and "too long to fit in a link" in url.fit_notes(noise, None)[0]
    assert url.fit_notes("short", "also short") == []


def test_a_damaged_compressed_text_reads_as_absent():
    assert url.text_from_params({"textz": "not-really-zlib"}, "text") == (None, None)


@pytest.mark.parametrize("kind,value", [(bool, True), (bool, False), (int, 7), (float, 0.25), (str, "Magma"),
                                        (list, [3, 1, 4])])
def test_page_settings_round_trip_by_type(kind, value):
    assert url.read_setting(url.write_setting(value), kind) == value


@pytest.mark.parametrize("kind,raw", [(bool, "yes"), (int, "seven"), (list, "1,x"), (int, "-5"),
                                      (registry.Float(0.0, 1.0), "2"), (registry.Float(0.0, 1.0), "nan"),
                                      (registry.Float(0.0, 1.0), "-0.1"), (registry.Float(0.1, 5.0), "0"),
                                      (registry.Float(0.1, 5.0), "inf"), (registry.Ints(8), "0,1,2,3,4,5,6,7,8"),
                                      (registry.Ints(8), "-1")])
def test_damaged_settings_are_refused(kind, raw):
    with pytest.raises(ValueError):
        url.read_setting(raw, kind)


@pytest.mark.parametrize("raw", ["-5", "0", "999999999999", "x"])
def test_an_impossible_dropped_text_length_is_no_text(raw):
    assert url.text_from_params({"text_dropped": raw}, "text") == (None, None)


def test_every_bounded_float_and_list_setting_matches_its_widget():
    """The bounds a link may give are the widgets' own: a slider's range, a multiselect's limit."""
    settings = registry.link_settings()
    assert (settings["roll_residual"].low, settings["roll_residual"].high) == (0.0, 1.0)
    assert (settings["qk_temperature"].low, settings["qk_temperature"].high) == (0.1, 5.0)
    assert settings["pos_dims"].max_items == 8
    for key, setting in settings.items():
        assert setting.kind is not float or setting.high < 1_000_000, f"{key} has no bounds"


def test_every_link_key_belongs_to_its_page_and_types_are_known():
    for page in registry.PAGES:
        for key, spec in page.link.items():
            assert key.startswith(page.prefixes)
            assert registry.setting(spec).kind in (bool, int, float, str, list)
    prefixes = registry.widget_prefixes()
    assert len(set(prefixes)) == len(prefixes), "two pages share a widget prefix"
    assert len({p.url_path for p in registry.PAGES}) == len(registry.PAGES)
    assert sum(p.default for p in registry.PAGES) == 1


def test_every_old_address_forwards_to_a_view_of_a_page():
    """Merged pages keep their addresses (registry.FORWARDS): each has its file (the legacy first
    request needs it), names a page, and chooses a view through a setting that page's link carries."""
    paths = {p.url_path for p in registry.PAGES}
    for old in registry.FORWARDS:
        assert old.url_path not in paths
        assert (ROOT / old.script).read_text().count(f'opening.forward("{old.url_path}")') == 1
        page = registry.by_title(old.to)
        assert old.view[0] in page.link, old
        assert registry.by_title(old.title) is page


def test_the_registry_refuses_a_link_key_without_the_page_prefix():
    with pytest.raises(ValueError, match="do not start with"):
        registry.Page("pages/x.py", "X", ":material/star:", "x", "x_", "Look", link={"y_thing": int})


def test_the_registry_refuses_a_url_path_that_is_not_the_file_name():
    """A fresh server's first request (a shared link) finds pages by file name only."""
    with pytest.raises(ValueError, match="must be the file's name"):
        registry.Page("pages/minimal_pairs.py", "Minimal pairs", ":material/star:", "minimal-pairs", "mp_", "Explain")


def test_the_shared_view_is_declared_once_and_carried_by_every_page():
    """Issue 17 §2: the followed token, the view options and the window are one view, declared once
    (registry.VIEW_LINK), read from any link and written on every page's link."""
    settings = registry.link_settings()
    for key in registry.VIEW_LINK:
        assert key in settings
        owners = [page.title for page in registry.PAGES if key in page.link]
        assert owners in ([], ["Attention"]), (key, owners)  # no page declares its own copy
    assert settings["att_window"].low == 0  # "off" is a window a link may carry


@pytest.mark.parametrize("old,new,raw", [("roll_token", "att_follow", "8"), ("meth_query", "att_follow", "3"),
                                         ("qk_query", "att_follow", "5"), ("roll_window", "att_window", "0"),
                                         ("mp_window", "att_window", "24"), ("roll_layer", "layer", "3"),
                                         ("cmp_layer", "layer", "2"), ("cmp_head", "head", "mean")])
def test_an_old_pages_own_setting_moves_to_the_shared_view(old, new, raw):
    assert url.renamed({old: raw})[new] == raw
    assert url.renamed({old: raw, new: "1"})[new] == "1"  # the new name, when the link has it, wins
