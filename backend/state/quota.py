"""How many project ids may keep data here: ids a client makes up cannot grow the store for ever."""

from __future__ import annotations

import redis

from .keys import KNOWN_PROJECTS, PROJECTS

# One step, so that concurrent first requests of new projects cannot overshoot the limit. A project
# with annotations stored before the quota existed is admitted whatever the count.
_ADMIT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""


class ProjectQuota:
    """At most `limit` project ids keep anything (a labeling config, annotations, what was served).
    A project is admitted by its first /setup or webhook; /predict serves any id but records
    nothing for one never admitted."""

    def __init__(self, client: redis.Redis, limit: int) -> None:
        self.r = client
        self.limit = limit
        self._admit = client.register_script(_ADMIT)
        # Ids this process has seen admitted (an id is never un-admitted, and at most `limit` are):
        # every /predict asks, and need not ask Redis again.
        self._admitted: set[str] = set()

    def admit(self, project: str) -> bool:
        """True when `project` may keep data: already known, or a place was left for it."""
        if project not in self._admitted:
            if not self._admit(keys=[KNOWN_PROJECTS, PROJECTS], args=[project, self.limit]):
                return False
            self._admitted.add(project)
        return True

    def known(self, project: str) -> bool:
        if project not in self._admitted:
            if not (self.r.sismember(KNOWN_PROJECTS, project) or self.r.sismember(PROJECTS, project)):
                return False
            self._admitted.add(project)
        return True

    def count(self) -> int:
        return int(self.r.scard(KNOWN_PROJECTS))

    def refusal(self) -> str:
        return (f"this backend already keeps data for MAX_PROJECTS={self.limit} projects; raise MAX_PROJECTS "
                "to add another")
