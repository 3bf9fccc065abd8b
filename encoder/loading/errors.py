"""The one exception every loading failure becomes."""


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says what is wrong and where."""
