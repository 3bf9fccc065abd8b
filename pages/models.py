"""Models: every model this server offers, with the one in use, and two models compared on one text."""

import state
from pages.parts import compare, models

state.page_header(":material/memory: Models")
state.page_views("mod_view", {"Models": models.render, "Compare two models": compare.render})
