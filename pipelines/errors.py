"""Errors of the pipeline: each names the component and, where known, the file concerned."""

from __future__ import annotations

from fpam_tf.errors import FpamError


class PipelineError(FpamError):
    """A component failed on its input or configuration.

    Attributes:
      component: the component's name (``ExampleGen``, ``Transform``, ...).
      path: the file or folder concerned, or ``None``.
    """

    def __init__(self, component: str, problem: str, *, path=None, fix: str = ""):
        self.component = component
        self.path = None if path is None else str(path)
        where = f" ({self.path})" if self.path is not None else ""
        message = f"{component}{where}: {problem}"
        if fix:
            message += f"\n  fix: {fix}"
        super().__init__(message)
