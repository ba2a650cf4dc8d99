"""Label Studio's REST API through label-studio-sdk: the few calls the re-sync, the push and the demo make."""

from __future__ import annotations

import json
from typing import Iterator

# Data Manager filter: tasks nobody has annotated yet (cancelled ones included: skipped, not labelled)
UNLABELLED = {"filters": {"conjunction": "and", "items": [
    {"filter": "filter:tasks:total_annotations", "operator": "equal", "type": "Number", "value": 0}]}}


def _as_dict(task) -> dict:
    return task if isinstance(task, dict) else task.model_dump() if hasattr(task, "model_dump") else task.dict()


class LabelStudioClient:
    """One Label Studio at `url`; `api_key` is a personal access token or a legacy token."""

    def __init__(self, url: str, api_key: str, timeout: float = 60) -> None:
        from label_studio_sdk.client import LabelStudio  # only the worker and the demo need the SDK loaded

        self.sdk = LabelStudio(base_url=url, api_key=api_key, timeout=timeout)

    def label_config(self, project: str) -> str | None:
        return self.sdk.projects.get(id=int(project)).label_config or None

    def tasks(self, project: str) -> Iterator[dict]:
        """Every task of the project with its annotations, as plain dicts."""
        for task in self.sdk.tasks.list(project=int(project), fields="all"):
            yield _as_dict(task)

    def unlabelled_tasks(self, project: str, page_size: int, after: int = 0) -> Iterator[tuple[int, dict]]:
        """(id, data) of every task nobody has annotated, in id order (LS's order without one
        asked for), fetched `page_size` at a time; with `after`, only the tasks with a greater id."""
        query = UNLABELLED
        if after:
            query = {"filters": {**UNLABELLED["filters"], "items": [
                *UNLABELLED["filters"]["items"],
                {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": after}]}}
        pager = self.sdk.tasks.list(project=int(project), fields="task_only", query=json.dumps(query),
                                    page_size=page_size)
        for task in pager:
            yield int(task.id), task.data if isinstance(task.data, dict) else {}

    def import_predictions(self, project: str, predictions: list[dict]) -> None:
        self.sdk.projects.import_predictions(id=int(project), request=predictions)

    def select_version(self, project: str, version: str) -> None:
        """Make `version` the project's selected model version (Settings -> Model)."""
        self.sdk.projects.update(id=int(project), model_version=version)

    def model_versions(self, project: str) -> dict[str, int]:
        """{model version: predictions} of every version the project's predictions carry."""
        return self._call("GET", f"api/projects/{int(project)}/model-versions/") or {}

    def delete_version(self, project: str, version: str) -> int:
        """Delete every prediction of `version` in the project: one SQL delete in LS 1.23
        (`Project.delete_predictions`), the cheapest way it offers; returns how many went."""
        reply = self._call("DELETE", f"api/projects/{int(project)}/model-versions/", {"model_version": version})
        return int((reply or {}).get("deleted_predictions", 0))

    def _call(self, method: str, path: str, body: dict | None = None):
        """A REST call the SDK does not wrap, through its own authenticated client."""
        response = self.sdk._client_wrapper.httpx_client.request(path, method=method, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def ready_project(self, title: str, label_config: str, texts: list[str], backend_url: str) -> int:
        """The project called `title`; made once, with `texts` as tasks and the backend connected."""
        for project in self.sdk.projects.list():
            if project.title == title:
                return project.id
        project = self.sdk.projects.create(title=title, label_config=label_config).id
        self.sdk.projects.import_tasks(id=project, request=[{"text": t} for t in texts])
        self.sdk.ml.create(project=project, url=backend_url, title="ner-backend", is_interactive=True)
        return project
