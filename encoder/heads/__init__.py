"""The Transformer tutorial's two task heads on Headlight's pretrained, frozen encoder.

    from encoder import load_model
    from encoder.heads import default_sentence_classifier, default_tagger

    model = load_model()
    classifier = default_sentence_classifier(model, seed=0)
    classifier.predict(["Not bad at all."])            # ['positive']
    classifier.predict_proba(["Not bad at all."])      # (1, 2), columns classifier.labels
    classifier.evaluation.accuracy                     # on the fixed held-out 20% of sentiment.csv
    tagger = default_tagger(model, seed=0)
    tagger.predict("Maria Garcia moved to Lisbon.")    # [('Maria', 'B-PER'), ('Garcia', 'I-PER'), ...]
    tagger.evaluation.to_frame()                       # entity-level P/R/F1 on ner.tsv's test split

The encoder never changes: its features are computed once and only a linear layer is trained,
so both heads train in seconds, bit for bit the same for the same seed.
"""

from .classifier import SentenceClassifier, default_sentence_classifier, train_sentence_classifier
from .data import ENTITY_TYPES, NER_TAGS, SENTIMENT_LABELS, TaggedSentence, read_ner, read_sentiment, split_sentiment
from .evaluation import ClassifierEvaluation, ClassScore, TaggerEvaluation, entity_spans, evaluate_entities
from .features import mean_pool, pooled_features
from .tagger import TaggedText, TokenTagger, default_tagger, train_tagger

__all__ = [
    "ENTITY_TYPES", "NER_TAGS", "SENTIMENT_LABELS", "ClassScore", "ClassifierEvaluation", "SentenceClassifier",
    "TaggedSentence", "TaggedText", "TaggerEvaluation", "TokenTagger", "default_sentence_classifier",
    "default_tagger", "entity_spans", "evaluate_entities", "mean_pool", "pooled_features", "read_ner",
    "read_sentiment", "split_sentiment", "train_sentence_classifier", "train_tagger",
]
