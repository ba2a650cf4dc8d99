"""ner-backend: a Label Studio ML backend that pre-annotates text with BERT entity spans."""
