"""/ablation, an address from before the merge into the Task heads and ablation page: it opens that page on the view it
showed (registry.FORWARDS)."""

import opening

opening.forward("ablation")
