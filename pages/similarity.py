"""/similarity, an address from before the merge into the Embeddings page: it opens that page on the view it
showed (registry.FORWARDS)."""

import opening

opening.forward("similarity")
