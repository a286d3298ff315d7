"""Apache Beam pipeline options: the runner plus any options passed through from the command
line."""

from __future__ import annotations

RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner")


def pipeline_options(runner: str = "DirectRunner", beam_args: list[str] | tuple = ()):
    """``PipelineOptions`` for ``runner`` with ``beam_args`` (e.g. ``--project``,
    ``--flink_master``).

    Built from the explicit list only: by default Beam would also parse ``sys.argv``.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(flags=[f"--runner={runner}", *beam_args])
