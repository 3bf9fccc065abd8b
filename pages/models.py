"""Models: every model this server offers, with the one in use, and two models compared on one text."""

import opening
from pages.parts import compare, models

opening.page_header(":material/memory: Models")
opening.page_views("mod_view", {"Models": models.render, "Compare two models": compare.render})
