"""The simulated annotator: replay a gold corpus and measure what annotators would get (`ner-backend simulate`)."""
