"""The NER engine shared by the web service and the worker: words, labels, alignment, spans, models."""
