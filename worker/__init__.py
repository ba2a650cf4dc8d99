"""Background work: RQ jobs (jobs/), the training library (training/), the simulated annotator (simulate/); no web code."""
