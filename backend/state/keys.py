"""Every Redis key ner-backend writes, in one place (RQ's own keys, `rq:*`, are RQ's)."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "ner"
PROJECTS = f"{PREFIX}:projects"  # set: every project that has stored an annotation
KNOWN_PROJECTS = f"{PREFIX}:projects:known"  # set: every project admitted to keep data (at most MAX_PROJECTS)
CURRENT_VERSIONS = f"{PREFIX}:models:current"  # hash: project id -> current version (what serving polls)
COVERED = f"{PREFIX}:covered"  # set: every project that has a cold-start order
SERVING = f"{PREFIX}:serving"  # hash: serving process -> {"at": time, "versions": {project: version}}


def project_order(project: str) -> tuple[int, str]:
    """Sort key: digit ids in numeric order, and never an error for any other name."""
    return len(project), project


@dataclass(frozen=True)
class ProjectKeys:
    """The keys of one project, `ner:project:<id>:<what>`, by the module that owns each."""

    project: str

    def _key(self, what: str) -> str:
        return f"{PREFIX}:project:{self.project}:{what}"

    # annotations.AnnotationStore
    @property
    def annotations(self) -> str:  # hash: task id -> Annotation JSON
        return self._key("annotations")

    @property
    def annotation_tasks(self) -> str:  # hash: annotation id -> task id
        return self._key("annotation-tasks")

    @property
    def changes(self) -> str:  # counter: stores and deletions that changed the data
        return self._key("changes")

    @property
    def other_annotations(self) -> str:  # hash: annotation id -> an older annotation of a task (another annotator's)
        return self._key("other-annotations")

    @property
    def task_others(self) -> str:  # hash: task id -> JSON list of the ids in other_annotations for it
        return self._key("task-others")

    @property
    def deleted_annotations(self) -> str:  # set: ids of stored annotations deleted in LS (never stored again)
        return self._key("deleted-annotations")

    @property
    def deleted_unseen(self) -> str:  # sorted set: ids deleted before the store held them, by time (bounded)
        return self._key("deleted-unseen")

    @property
    def label_config(self) -> str:  # the labeling config LS last sent
        return self._key("label-config")

    # registry.ModelRegistry
    @property
    def version_seq(self) -> str:  # counter: the n of v<n>
        return self._key("version-seq")

    @property
    def current(self) -> str:  # the current version
        return self._key("current")

    @property
    def versions(self) -> str:  # list: promoted versions, oldest first
        return self._key("versions")

    @property
    def released(self) -> str:  # hash: version -> when it last served (replaced, or last held by a process)
        return self._key("released")

    @property
    def pinned(self) -> str:  # set: versions a user pinned (never removed by retention)
        return self._key("pinned")

    @property
    def current_changes(self) -> str:  # the change counter the current version's training read
        return self._key("current-changes")

    # history.TrainingHistory
    @property
    def trainings(self) -> str:  # list: job ids, oldest first
        return self._key("trainings")

    @property
    def learning_curve(self) -> str:  # hash: job id -> [annotations, dev F1] of every scored training
        return self._key("learning-curve")

    @property
    def training_records(self) -> str:  # hash: job id -> Training JSON
        return self._key("training-records")

    # quality.QualityLog
    @property
    def served(self) -> str:  # hash: task id -> the last predictions served for it
        return self._key("served")

    @property
    def served_order(self) -> str:  # sorted set: task id by time served (bounds `served`)
        return self._key("served-order")

    @property
    def outcomes(self) -> str:  # hash: annotation id -> what was predicted and what was submitted
        return self._key("outcomes")

    @property
    def quality_versions(self) -> str:  # sorted set: versions with figures, by version number (bounded)
        return self._key("quality-versions")

    def quality_figures(self, version: str) -> str:  # hash: "<figure>\t<label>" -> the outcomes' sum
        return self._key(f"quality:{version}")

    @property
    def quality_annotators(self) -> str:  # hash: "<annotator>\t<figure>" -> the outcomes' sum, every version
        return self._key("quality-annotators")

    @property
    def quality_built(self) -> str:  # set once the outcomes stored before the figures are summed
        return self._key("quality-built")

    # cover.CoverOrder
    @property
    def cover_scores(self) -> str:  # hash: task id -> its place in the cold-start order, as a task score
        return self._key("cover-scores")

    @property
    def cover_version(self) -> str:  # hash: version (the model_version LS shows), since (UTC), tasks
        return self._key("cover-version")

    @property
    def cover_asked(self) -> str:  # set while a cover job waits (coalesces TASKS_CREATED bursts)
        return self._key("cover-asked")

    @property
    def cover_first(self) -> str:  # set once /setup has asked for a project's first order
        return self._key("cover-first")

    # jobqueue.ProjectJobs
    @property
    def changes_at_request(self) -> str:  # the change counter when the last training was asked for
        return self._key("changes-at-request")

    @property
    def resync(self) -> str:  # set while a START_TRAINING's re-sync from LS is pending
        return self._key("resync")

    @property
    def job_waiting(self) -> str:  # id of the job that has not started yet
        return self._key("job-waiting")

    @property
    def job_last(self) -> str:  # id of the newest job
        return self._key("job-last")

    @property
    def job_seq(self) -> str:  # counter: the n of train-<project>-<n>
        return self._key("job-seq")

    @property
    def trigger_lock(self) -> str:  # lock held while a trigger decides
        return self._key("trigger-lock")

    @property
    def rebuild(self) -> str:  # the job id of the background full training's next slice (expires: a lease)
        return self._key("rebuild")

    @property
    def push_wanted(self) -> str:  # JSON {"version", "job"}: the newest promotion whose push has not started
        return self._key("push-wanted")

    @property
    def push_waiting(self) -> str:  # id of the push job enqueued and not started yet
        return self._key("push-waiting")

    @property
    def push_started(self) -> str:  # when the last push job began (seconds since the epoch)
        return self._key("push-started")

    @property
    def job_alive(self) -> str:  # the running job's id, expiring unless renewed (its lease)
        return self._key("job-alive")
