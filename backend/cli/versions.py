"""A project's versions by hand: `rollback` to an older one, `pin` one against retention."""

from __future__ import annotations

import argparse
import logging

from ..clock import utc_stamp
from ..config import Settings
from ..ner.checkpoint import ModelFolderError
from .common import CliError

log = logging.getLogger("ner_backend")


def register(sub) -> None:
    rb = sub.add_parser("rollback", help="serve an older kept version of a project again (every process swaps to it)")
    rb.add_argument("--project", required=True, help="project id")
    rb.add_argument("--to", help="the version (default: the one that served before the current one)")
    rb.set_defaults(run=cmd_rollback)

    pn = sub.add_parser("pin", help="keep a version whatever the retention (KEEP_VERSIONS)")
    pn.add_argument("--project", required=True, help="project id")
    pn.add_argument("version")
    pn.add_argument("--unpin", action="store_true", help="let retention remove it again")
    pn.set_defaults(run=cmd_pin)


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    """Promote a kept older version through the registry (checked like any promotion)."""
    from ..state import connect
    from ..state.registry import RegistryError

    stores = connect(settings)
    registry = stores.registry
    target = args.to or registry.previous(args.project)
    if not target:
        raise CliError(f"project {args.project} has no earlier version to roll back to")
    current = registry.current(args.project)
    try:
        registry.promote(args.project, target)
    except (RegistryError, ModelFolderError) as exc:
        raise CliError(f"cannot roll back to {target}: {exc}") from None
    print(f"project {args.project}: {target} serves again (was {current}); every serving process swaps within "
          f"SWAP_POLL_SECONDS. The next promoted training replaces it: `pin` it, or keep annotating.")
    if settings.pushes_to_ls:
        print(f"project {args.project}: Label Studio {_rollback_in_ls(args.project, target, settings, stores)}")
    return 0


def _rollback_in_ls(project: str, version: str, settings: Settings, stores) -> str:
    """Make LS show `version` again: select its predictions, which LS still holds (each push keeps
    the version a rollback returns to), else ask the worker to push it. Says which."""
    from ..labelstudio.client import LabelStudioClient
    from ..state.history import Training

    try:
        ls = LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key)
        if ls.model_versions(project).get(version):
            ls.select_version(project, version)
            return f"shows {version}'s stored predictions again (selected)"
    except Exception as exc:  # LS down or refusing: the worker's push selects it when it can
        log.warning("project %s: could not select %s in Label Studio: %s", project, version, exc)
    record = Training(f"rollback-{project}-{utc_stamp()}", version=version)
    stores.history.save(project, record)
    stores.queue.want_push(project, version, record.job_id)
    return f"gets {version}'s predictions from the worker's next push"


def cmd_pin(args: argparse.Namespace, settings: Settings) -> int:
    from ..state import connect
    from ..state.registry import RegistryError

    registry = connect(settings).registry
    try:
        if not args.unpin and not registry.path(args.project, args.version).is_dir():
            raise CliError(f"project {args.project} has no version {args.version}")
        registry.pin(args.project, args.version, not args.unpin)
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    print(f"project {args.project}: {args.version} {'unpinned' if args.unpin else 'pinned: retention keeps it'}")
    return 0
