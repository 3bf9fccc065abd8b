"""Embeddings: the tokens' vectors squeezed to 2-D or 3-D, layer after layer, and what a
sentence-embedding model makes of them: one vector a text, compared by cosine."""

import state
from pages.parts import embeddings, similarity

state.page_header(":material/scatter_plot: Embeddings")
state.page_views("emb_view", {"Token embeddings": embeddings.render, "Sentence similarity": similarity.render})
