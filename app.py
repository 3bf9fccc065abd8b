"""Headlight: type text, see what every attention head looks at.

Run with:  streamlit run app.py
"""

from __future__ import annotations

import streamlit as st

import state

# An emoji icon: a Material icon here makes the browser fetch the favicon from Google's font CDN.
st.set_page_config(page_title="Headlight", page_icon="🔦", layout="wide")
state.init_session()
state.keep_widget_state()


def use_example() -> None:
    chosen = st.session_state.get("example")
    for example in state.examples():
        if example["title"] == chosen:
            st.session_state.text = example["text"]
            st.session_state.pair = example.get("pair", "")


with st.sidebar:
    st.title(":material/highlight: Headlight")
    st.caption("What every attention head of a Transformer encoder looks at.")
    st.text_area("Text", key="text", height=150, max_chars=state.MAX_TEXT_CHARS,
                 help="Press Ctrl+Enter (⌘+Enter on a Mac) or Run to see it.")
    st.text_area("Second sentence (optional, makes a pair)", key="pair", height=70,
                 max_chars=state.MAX_TEXT_CHARS,
                 help="With two sentences the model reads them as a pair: [CLS] A [SEP] B [SEP].")
    st.button("Run", type="primary", icon=":material/play_arrow:", width="stretch")
    st.selectbox("Or try an example", [e["title"] for e in state.examples()], index=None,
                 key="example", on_change=use_example, placeholder="Choose an example…")
    with st.expander("Model", icon=":material/memory:"):
        st.radio("Source", ["Bundled", "Local folder", "Hugging Face Hub"], key="model_kind",
                 captions=["all-MiniLM-L6-v2, offline", "config.json + model.safetensors",
                           "org/name, needs the network"])
        if st.session_state.get("model_kind", "Bundled") != "Bundled":
            st.text_input("Folder path or Hub id", key="model_path",
                          placeholder="/path/to/bert-folder or org/name")

pages = [
    st.Page("pages/attention.py", title="Attention", icon=":material/grid_on:", default=True),
    st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
    st.Page("pages/positional.py", title="Positional encoding", icon=":material/waves:"),
]
navigation = st.navigation(pages)
state.sync_url(state.current_input())
navigation.run()
