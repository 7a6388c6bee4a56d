"""What an event-stream client asked for: ``?topics=jobs,system&kinds=download,train&job=<id>``.

- ``topics``: ``jobs`` (``event: job``) and/or ``system`` (``event: system``); default both;
- ``kinds``: job kinds (``download``, ``train`` (or ``training``), ``batch``, ``video``);
- ``job``: job ids (repeated or comma-separated, at most ``MAX_JOBS``).

``kinds`` and ``job`` both select job events: a job is sent when its kind is one of ``kinds`` **or**
its id is one of ``job`` (so one stream can carry the union of what several views follow); with
neither, every job is sent. Each value is checked: an unknown topic or kind, or too many ids, is a
``ValidationError`` (400 in the studio's error shape).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.chat.batch import KIND as BATCH_KIND
from ..core.downloads.manager import KIND as DOWNLOAD_KIND
from ..core.training.service import KIND as TRAIN_KIND
from ..core.video.service import KIND as VIDEO_KIND
from ..errors import ValidationError

TOPICS = ("jobs", "system")
#: Job kinds a client may name, and the kind each stands for.
KINDS: dict[str, str] = {DOWNLOAD_KIND: DOWNLOAD_KIND, TRAIN_KIND: TRAIN_KIND, "training": TRAIN_KIND,
                         BATCH_KIND: BATCH_KIND, VIDEO_KIND: VIDEO_KIND}
MAX_JOBS = 50
_JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
PARAMS = ("topics", "kinds", "job")


def _values(raw: Iterable[str]) -> list[str]:
    return [v.strip() for item in raw for v in item.split(",") if v.strip()]


@dataclass(frozen=True)
class EventFilter:
    topics: frozenset[str] = frozenset(TOPICS)
    kinds: frozenset[str] = frozenset()
    jobs: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, query: Mapping[str, list[str]]) -> EventFilter:
        """From query arguments (name -> values as given, e.g. tornado's ``get_query_arguments``); other
        arguments (``token``) are not this filter's business."""
        topics = _values(query.get("topics", []))
        bad = [t for t in topics if t not in TOPICS]
        if bad:
            raise ValidationError(f"Unknown topic {bad[0][:100]!r}; topics are {', '.join(TOPICS)}",
                                  details={"parameter": "topics", "value": bad[0][:100], "choices": list(TOPICS)})
        kinds = _values(query.get("kinds", []))
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValidationError(f"Unknown job kind {bad[0][:100]!r}; kinds are {', '.join(KINDS)}",
                                  details={"parameter": "kinds", "value": bad[0][:100], "choices": list(KINDS)})
        jobs = _values(query.get("job", []))
        if len(set(jobs)) > MAX_JOBS:
            raise ValidationError(f"At most {MAX_JOBS} job ids may be followed, got {len(set(jobs))}",
                                  details={"parameter": "job", "count": len(set(jobs)), "maximum": MAX_JOBS})
        bad = [j for j in jobs if not _JOB_ID.fullmatch(j)]
        if bad:
            raise ValidationError(f"Not a job id: {bad[0][:100]!r}", details={"parameter": "job", "value": bad[0][:100]})
        chosen = frozenset(topics) if topics else frozenset(TOPICS)
        if (kinds or jobs) and "jobs" not in chosen:
            raise ValidationError("kinds and job select job events: add jobs to topics",
                                  details={"parameter": "topics", "value": sorted(chosen)})
        return cls(chosen, frozenset(KINDS[k] for k in kinds), frozenset(jobs))

    @property
    def system(self) -> bool:
        return "system" in self.topics

    def wants(self, job: Mapping[str, Any]) -> bool:
        """Whether a job event (the job's dict) is sent."""
        if "jobs" not in self.topics:
            return False
        if not self.kinds and not self.jobs:
            return True
        return job.get("kind") in self.kinds or job.get("id") in self.jobs
