"""Every page of the app, in one list: app.py's navigation, widget persistence, the URL, the page
benchmark and the browser tests all read it.

Adding a page = one `Page(...)` line here plus `pages/<name>.py` (and usually `figures/<name>.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("Look", "Explain", "Learn", "Models")
# The key of the container that holds a merged page's view control (opening.page_views), so that
# tests and styles find that control and not a view's own button groups.
VIEW_CHOICE = "view_choice"


@dataclass(frozen=True)
class Setting:
    """What a link may give one page setting: its type (bool, int, float, str, or list for a list of
    ints) and its bounds. A link value outside them is refused with a note (url.read_link), never
    handed to a widget: a slider given 2 where it offers 0 to 1, or a list longer than a
    multiselect allows, raises. Whether a token or layer exists is the page's check (session.keep_valid)."""

    kind: type
    low: float = 0
    high: float = 1_000_000
    max_items: int = 64  # a list's length

    def __post_init__(self) -> None:
        if self.kind not in (bool, int, float, str, list):
            raise ValueError(f"a link setting is bool, int, float, str or list, not {self.kind!r}")

    def describe(self) -> str:
        """The values allowed, in words, for the note that refuses another."""
        if self.kind is bool:
            return "0 or 1"
        if self.kind is str:
            return "a name"
        bounds = f"from {self.low:g} to {self.high:g}"
        if self.kind is list:
            return f"at most {self.max_items} whole numbers, each {bounds}"
        return ("a whole number " if self.kind is int else "a number ") + bounds


def Float(low: float, high: float) -> Setting:
    return Setting(float, low, high)


def Int(low: int = 0, high: int = 1_000_000) -> Setting:
    return Setting(int, low, high)


def Ints(max_items: int, high: int = 1_000_000) -> Setting:
    return Setting(list, 0, high, max_items)


@dataclass(frozen=True)
class Page:
    """One page.

    script: the page's file; url_path: its address (/<url_path>; the default page is also /);
    prefix: the start of every widget key the page owns, so its settings survive switching
    pages; absorbed: the prefixes of the pages merged into this one, whose settings keep their keys
    so that old links still carry them; link: the page's own settings a shared link carries,
    key -> a type (bool, int, str: any value of it) or a `Setting` with bounds, read back from the
    URL that way.
    """

    script: str
    title: str
    icon: str
    url_path: str
    prefix: str
    section: str
    default: bool = False
    link: dict[str, type | Setting] = field(default_factory=dict)
    uses: str = "text"  # what of the sidebar the page reads: "text" (and the model), "model", or "nothing"
    absorbed: tuple[str, ...] = ()

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (self.prefix, *self.absorbed)

    def __post_init__(self) -> None:
        if self.uses not in ("text", "model", "nothing"):
            raise ValueError(f"{self.title}: uses is 'text', 'model' or 'nothing', not {self.uses!r}")
        if self.section not in SECTIONS:
            raise ValueError(f"{self.title}: section {self.section!r} is not one of {SECTIONS}")
        if not all(prefix.endswith("_") for prefix in self.prefixes):
            raise ValueError(f"{self.title}: a widget prefix ends with '_', not {self.prefixes!r}")
        if Path(self.script).stem != self.url_path:
            # A link to a page as a fresh server's first request is served by Streamlit's legacy
            # pages/ mode, which knows a page only by its file name ("Page not found" otherwise).
            raise ValueError(f"{self.title}: url_path {self.url_path!r} must be the file's name, "
                             f"{Path(self.script).stem!r}")
        stray = [key for key in self.link if not key.startswith(self.prefixes)]
        if stray:
            raise ValueError(f"{self.title}: link keys {stray} do not start with one of {self.prefixes!r}")


# The view every page shares (selection.py): the followed token, the view options and the readable
# window, declared once. Every page's link carries them (url.write_link), with "layer" and "head";
# they keep the Attention page's prefix, which links have always used.
VIEW_LINK: dict[str, type | Setting] = {"att_follow": Int(), "att_hide_special": bool, "att_renormalize": bool,
                                        "att_merge": bool, "att_window": Int(0, 4096)}
# Settings a page had of its own that are now the shared view's: an old link's value moves there.
RENAMED: dict[str, str] = {"roll_token": "att_follow", "meth_query": "att_follow", "qk_query": "att_follow",
                           "roll_window": "att_window", "mp_window": "att_window", "roll_layer": "layer",
                           "cmp_layer": "layer", "cmp_head": "head"}
# "Compare with" on Attention and Embeddings drew a second model far below the first, on its own
# scale; two models side by side are Models › Compare two models now. An old link's model goes there.
RETIRED: dict[str, str] = {"att_compare": "cmp_model_b", "emb_compare": "cmp_model_b"}

# Menus in the order people open them. Each page shows one idea; pages that showed one idea from
# several sides were merged, and their addresses forward (FORWARDS).
PAGES: tuple[Page, ...] = (
    Page("pages/attention.py", "Attention", ":material/grid_on:", "attention", "att_", "Look", default=True,
         link={"att_view": str, **VIEW_LINK, "att_scale": str, "att_log": str, "att_block": str, "att_shade": str,
               "att_shade_stat": str, "qk_temperature": Float(0.1, 5.0)},
         absorbed=("qk_",)),
    Page("pages/heads.py", "Head patterns", ":material/category:", "heads", "hs_", "Look",
         link={"hs_importance": bool}),
    Page("pages/corpus.py", "Corpus", ":material/library_books:", "corpus", "corp_", "Look",
         link={"corp_section": str, "corp_source": str, "corp_sample": Int(1, 128), "corp_statistic": str},
         uses="model"),
    Page("pages/embeddings.py", "Embeddings", ":material/scatter_plot:", "embeddings", "emb_", "Look",
         link={"emb_view": str, "emb_depth": str, "emb_dims": str, "emb_centred": bool, "emb_tracks": Ints(12)},
         absorbed=("sim_",)),
    Page("pages/positional.py", "Positional encoding", ":material/waves:", "positional", "pos_", "Look",
         link={"pos_positions": Int(2, 100_000), "pos_dims": Ints(8)}),
    Page("pages/attribution.py", "Attribution", ":material/account_tree:", "attribution", "attr_", "Explain",
         link={"attr_view": str,
               "roll_fusion": str, "roll_residual": Float(0.0, 1.0), "roll_flow": bool, "roll_log": bool,
               "meth_k": Int(1, 10), "meth_flow": bool, "meth_keys": str},
         absorbed=("roll_", "vw_", "meth_")),
    Page("pages/minimal_pairs.py", "Minimal pairs", ":material/difference:", "minimal_pairs", "mp_", "Explain",
         link={"mp_text_a": str, "mp_text_b": str, "mp_word": int}),
    Page("pages/walkthrough.py", "Walk-through", ":material/school:", "walkthrough", "walk_", "Learn",
         link={"walk_lesson": bool, "walk_steps": Ints(64), "walk_step": Int(), "walk_pad_text": str}),
    Page("pages/join.py", "Join a class", ":material/groups:", "join", "join_", "Learn", link={"join_code": str},
         uses="nothing"),
    Page("pages/task_heads.py", "Task heads and ablation", ":material/label:", "task_heads", "task_", "Learn",
         link={"task_section": str, "task_layer": int, "task_view": str, "abl_off": Ints(1024), "abl_rank": bool},
         absorbed=("abl_",)),
    Page("pages/lab.py", "Lab", ":material/science:", "lab", "lab_", "Learn",
         link={"lab_task": str, "lab_layers": int, "lab_heads": int, "lab_d_model": int, "lab_steps": int,
               "lab_seed": int, "lab_causal": bool, "lab_refresh": int}, uses="nothing"),
    Page("pages/models.py", "Models", ":material/memory:", "models", "mod_", "Models",
         link={"mod_view": str, "cmp_model_b": str, "cmp_head_b": int},
         absorbed=("cmp_",)),
)


@dataclass(frozen=True)
class Forward:
    """An address from before a merge: /url_path opens the page that absorbed it, on the view it
    showed (view: the setting that chooses it), with the settings the link carries. Its file
    pages/<url_path>.py stays, because a fresh server's first request to a deep link is served by
    Streamlit's legacy pages/ mode, which knows a page only by its file name. moves: settings the
    old page had that now live elsewhere (Similarity's own "Text B" is the sidebar's pair)."""

    url_path: str
    title: str
    to: str  # the page's title
    view: tuple[str, str]  # (setting, value)
    moves: tuple[tuple[str, str], ...] = ()

    @property
    def script(self) -> str:
        return f"pages/{self.url_path}.py"


FORWARDS: tuple[Forward, ...] = (
    Forward("rollout", "Rollout", "Attribution", ("attr_view", "Rollout")),
    Forward("value_weighted", "Value-weighted", "Attribution", ("attr_view", "Value-weighted")),
    Forward("methods", "Methods side by side", "Attribution", ("attr_view", "Methods compared")),
    Forward("qk", "Q·K walk-through", "Attention", ("att_view", "Q·K step by step")),
    Forward("similarity", "Sentence similarity", "Embeddings", ("emb_view", "Sentence similarity"),
            moves=(("sim_text_b", "pair"),)),
    Forward("ablation", "Head ablation", "Task heads and ablation", ("task_section", "Head ablation")),
    Forward("compare", "Compare two models", "Models", ("mod_view", "Compare two models")),
)


def by_title(title: str) -> Page:
    """The page of this title; for a forwarding address, the page it forwards to."""
    title = next((f.to for f in FORWARDS if f.title == title), title)
    return next(p for p in PAGES if p.title == title)


def forward_at(url_path: str) -> Forward:
    return next(f for f in FORWARDS if f.url_path == url_path)


def widget_prefixes() -> tuple[str, ...]:
    return tuple(prefix for p in PAGES for prefix in p.prefixes)


def setting(spec: type | Setting) -> Setting:
    """A link entry as a Setting: a bare type allows any value of it within the default bounds."""
    return spec if isinstance(spec, Setting) else Setting(spec)


def link_settings() -> dict[str, Setting]:
    """Every setting a link can carry (the shared view's and each page's), key -> Setting."""
    return {key: setting(spec) for spec_map in (VIEW_LINK, *(page.link for page in PAGES))
            for key, spec in spec_map.items()}


def path_of(page: Page) -> str:
    """The page's address as a browser shows it ("/" for the default page)."""
    return "/" if page.default else f"/{page.url_path}"
