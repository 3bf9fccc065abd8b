"""/compare, an address from before the merge into the Models page: it opens that page on the view it
showed (registry.FORWARDS)."""

import opening

opening.forward("compare")
