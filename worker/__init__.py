"""Background work for ner-backend: fine-tuning models (no web code here)."""
