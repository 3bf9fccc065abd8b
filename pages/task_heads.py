"""Task heads and ablation: the tutorial's two task heads trained on the frozen encoder, and what
switching heads off does to the text's attention and to the classifier's answer."""

import opening
from pages.parts import ablation, task_heads

opening.page_header(":material/label: Task heads and ablation")
opening.page_views("task_section", {"Classifier and tagger": task_heads.render, "Head ablation": ablation.render})
