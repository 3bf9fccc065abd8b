"""Attribution: which input tokens a position's output draws on, answered several ways (rollout,
value-weighted attention, gradients and perturbation) and then compared."""

import opening
from pages.parts import faithfulness, methods, rollout, value_weighted

opening.page_header(":material/account_tree: Attribution",
                    "Which input tokens does a position's output come from? Attention weights answer for one head; "
                    "the views here answer for the whole model, each in its own way: attention read through the "
                    "layers, weighted by what it carries, and the model's own gradients and perturbations, measured "
                    "for faithfulness. The last view compares the attention-based answers for one token.")
opening.page_views("attr_view", {"Rollout": rollout.render, "Value-weighted": value_weighted.render,
                                 "Gradients and perturbation": faithfulness.render, "Methods compared": methods.render})
