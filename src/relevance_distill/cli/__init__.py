"""``relevance-distill`` command line, one module per command group; ``app`` is the entry point."""

from relevance_distill.cli import (  # noqa: F401  (registers commands)
    abtest,
    data,
    pipeline,
    rollout,
    serving,
    student,
    teacher,
)
from relevance_distill.cli.common import app

__all__ = ["app"]
