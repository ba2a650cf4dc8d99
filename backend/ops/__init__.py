"""Running ner-backend's parts on one machine: the local stack (`up`), its processes, the Label Studio demo."""
