"""The training library: a project's data, the fine-tuning loop and the one recipe (jobs, CLI and simulator share it)."""
