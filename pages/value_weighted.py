"""/value_weighted, an address from before the merge into the Attribution page: it opens that page on the view it
showed (registry.FORWARDS)."""

import opening

opening.forward("value_weighted")
