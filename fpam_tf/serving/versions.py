"""TF Serving's model folder layout: ``<export_base>/<name>/<version>/`` with integer versions.

A server watching ``<export_base>/<name>`` loads the folders whose name is an integer, so a new
version is written under a temporary non-integer name and renamed into place once complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from fpam_tf.errors import ConfigError

STAGING_PREFIX = "tmp-export-"


def versions(model_dir: Path) -> list[int]:
    """The integer versions present in ``model_dir``, ascending (none when it does not exist)."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def latest_version(model_dir: Path) -> Path:
    """The folder of the newest version in ``model_dir``; ConfigError when there is none."""
    present = versions(model_dir)
    if not present:
        raise ConfigError(
            f"{model_dir} holds no exported model version (no integer-named folder); "
            "export one with: python -m fpam_tf.export --run-dir <run>"
        )
    return model_dir / str(present[-1])


def write_new_version(model_dir: Path, write: Callable[[Path], None]) -> Path:
    """Runs ``write(staging)`` on a fresh folder inside ``model_dir``, then renames it to the next
    version.

    The next version is one above the highest present (1 for a new model). On any error the
    staging folder is removed, and so is ``model_dir`` when it is left empty, so nothing
    half-written remains. Returns the version's folder.

    Raises:
      ConfigError: ``model_dir`` cannot be written (the OSError is chained).
    """
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=model_dir))
    except OSError as error:
        raise _unwritable(model_dir, error) from error
    try:
        write(staging)
        target = model_dir / str(max(versions(model_dir), default=0) + 1)
        # os.rename refuses an existing non-empty target, so a concurrent export is never
        # overwritten.
        os.rename(staging, target)
        return target
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            model_dir.rmdir()  # only when empty: a model folder this export created
        if isinstance(error, OSError):
            raise _unwritable(model_dir, error) from error
        raise


def _unwritable(model_dir: Path, error: OSError) -> ConfigError:
    return ConfigError(
        f"cannot write the export to {model_dir}: {error.strerror or error}; "
        "nothing was left behind; pass a writable --export-base"
    )
