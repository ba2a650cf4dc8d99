"""RQ entry points, enqueued by name (`worker.jobs.<function>`): the web service never imports the worker."""

from .cover import cover_tasks
from .push import push_predictions
from .rebuild import rebuild_project
from .train import train_project

__all__ = ["cover_tasks", "push_predictions", "rebuild_project", "train_project"]
