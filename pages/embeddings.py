"""Embeddings: the tokens' vectors squeezed to 2-D or 3-D, layer after layer, and what a
sentence-embedding model makes of them: one vector a text, compared by cosine."""

import opening
from pages.parts import embeddings, similarity

opening.page_header(":material/scatter_plot: Embeddings")
opening.page_views("emb_view", {"Token embeddings": embeddings.render, "Sentence similarity": similarity.render})
