"""/qk, an address from before the merge into the Attention page: it opens that page on the view it
showed (registry.FORWARDS)."""

import opening

opening.forward("qk")
