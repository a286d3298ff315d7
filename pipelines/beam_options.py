"""Apache Beam pipeline options: the runner plus any options passed through from the command
line."""

from __future__ import annotations

from fpam_tf.errors import ConfigError

RUNNERS = (
    "DirectRunner",
    "DataflowRunner",
    "FlinkRunner",
    "SparkRunner",
    "PortableRunner",
    "DaskRunner",
)
# Runners Beam does not resolve by their short name: the class each name stands for. The
# DaskRunner is Beam's with the fixes of pipelines/dask_runner.py.
RUNNER_CLASSES = {"DaskRunner": "pipelines.dask_runner.DaskRunner"}
DASK_ADDRESS_OPTIONS = ("--dask_client_address", "--dask_scheduler_file")


def given(option: str, beam_args) -> bool:
    """Whether ``beam_args`` sets ``option`` (``--option=value`` or ``--option value``)."""
    return any(arg == option or arg.startswith(option + "=") for arg in beam_args)


def check_runner(runner: str, beam_args=()) -> str:
    """The runner Beam is given for ``runner`` (a name of :data:`RUNNERS`, one Beam knows, or a
    dotted ``module.Class`` path), after checking what it needs.

    Raises:
      ConfigError: an unknown runner name; DaskRunner without the address of a running cluster,
        or without dask installed.
    """
    from apache_beam.options.pipeline_options import StandardOptions

    if runner not in RUNNERS and runner not in StandardOptions.KNOWN_RUNNER_NAMES:
        if "." not in runner:
            raise ConfigError(
                f"unknown Beam runner {runner!r}: use one of {', '.join(RUNNERS)} "
                "(or a runner class as module.Class)"
            )
    if runner == "DaskRunner":
        if not any(given(option, beam_args) for option in DASK_ADDRESS_OPTIONS):
            raise ConfigError(
                "--runner DaskRunner needs the scheduler of a running dask.distributed cluster: "
                "add --dask_client_address=HOST:PORT (e.g. after `dask scheduler` and "
                "`dask worker HOST:8786`; see BUILD.md, 'Dask')"
            )
        try:
            import dask.distributed  # noqa: F401
        except ImportError as error:
            raise ConfigError(
                f"--runner DaskRunner needs dask.distributed ({error}): "
                "pip install -r pipelines/requirements.txt"
            ) from None
    return RUNNER_CLASSES.get(runner, runner)


def pipeline_options(runner: str = "DirectRunner", beam_args: list[str] | tuple = ()):
    """``PipelineOptions`` for ``runner`` with ``beam_args`` (e.g. ``--project``,
    ``--flink_master``, ``--dask_client_address``).

    Built from the explicit list only: by default Beam would also parse ``sys.argv``.

    Raises:
      ConfigError: see :func:`check_runner`.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(flags=[f"--runner={check_runner(runner, beam_args)}", *beam_args])
