"""Attributions for the model's own outputs, and how faithful each one is.

    from encoder.attribution import METHODS, attribute, faithfulness, class_probability
    out = class_probability(default_sentence_classifier(model), "positive")
    a = attribute(model, "The plot was dull but the acting was superb.", out, method="integrated_gradients")
    a.tokens, a.scores, a.completeness_error
    table = faithfulness(model, texts, out, methods=METHODS)

Targets (`targets.py`) are differentiable functions of the encoder's output; methods (`methods.py`)
give one score per token; faithfulness (`faithfulness.py`) removes what each method ranks on top and
measures how far the target falls (DeYoung et al. 2020). Never imports streamlit or plotly.
"""

from .backend import MAX_TOKENS, REMOVAL_WORDS, backend_for
from .faithfulness import (
    FAITHFULNESS_STEPS,
    PERCENTS,
    RANDOM,
    Erasure,
    FaithfulnessReport,
    attribute_and_measure,
    erase,
    faithfulness,
    faithfulness_report,
)
from .methods import (
    IG_STEPS,
    METHOD_NAMES,
    METHODS,
    Attribution,
    Explainer,
    GradientPass,
    attribute,
    attribute_all,
    chefer_relevance,
)
from .targets import (
    TARGET_KINDS,
    Target,
    available_targets,
    class_probability,
    lab_output,
    model_tag_probability,
    most_probable_next_token,
    next_token_probability,
    similarity,
    tag_probability,
)

__all__ = [
    "FAITHFULNESS_STEPS",
    "IG_STEPS",
    "MAX_TOKENS",
    "METHODS",
    "METHOD_NAMES",
    "PERCENTS",
    "RANDOM",
    "REMOVAL_WORDS",
    "TARGET_KINDS",
    "Attribution",
    "Erasure",
    "Explainer",
    "FaithfulnessReport",
    "GradientPass",
    "Target",
    "attribute",
    "attribute_all",
    "attribute_and_measure",
    "available_targets",
    "backend_for",
    "chefer_relevance",
    "class_probability",
    "erase",
    "faithfulness",
    "faithfulness_report",
    "lab_output",
    "model_tag_probability",
    "most_probable_next_token",
    "next_token_probability",
    "similarity",
    "tag_probability",
]
