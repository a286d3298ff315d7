"""The pipeline's one file-system layer: the artifact store, the execution records, the ExampleGen
schema pin, the Evaluator's blessing and the Pusher's records read and write through here. Paths
are strings, a local path or a URI such as ``gs://bucket/root``.

It is ``tf.io.gfile``, not Beam's ``FileSystems``: TensorFlow serves local paths, ``file://``,
``gs://`` and the in-memory ``ram://`` (which lets the tests run a non-local root offline) without
extra packages, and tensorflow-transform, the Trainer's ``tf.data`` reads and TensorFlow Serving
open artifacts through the same file systems; Beam serves ``gs://`` only with the
``apache-beam[gcp]`` extra and refuses ``ram://`` ("Unable to get filesystem from specified
path").

Object stores differ from a local disk in one way that matters to the artifact store: a folder
rename is a copy of every object, neither atomic nor cheap, and ``ram://`` does not move a folder's
contents at all. :func:`renames_folders_atomically` tells the store which kind it writes to.
Files are always written atomically (:func:`write_text`): a temporary object, then a rename.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from pathlib import Path

from fpam_tf.errors import ConfigError

# Local paths: no scheme, or file:// (which names a local path too).
LOCAL_SCHEMES = ("", "file")


def scheme_of(path: str) -> str:
    """The scheme of a URI (``gs`` of ``gs://bucket/x``); empty for a plain local path."""
    scheme, separator, _ = path.partition("://")
    return scheme if separator else ""


def supported_schemes() -> list[str]:
    """The URI schemes TensorFlow's file systems serve in this installation (``gs``, ``ram``,
    ...)."""
    import tensorflow as tf

    return sorted(s for s in tf.io.gfile.get_registered_schemes() if s not in LOCAL_SCHEMES)


def location(path) -> str:
    """``path`` as this layer's paths are: a local path made absolute, a URI unchanged.

    Raises:
      ConfigError: the URI's scheme is not one TensorFlow serves here.
    """
    text = str(path)
    scheme = scheme_of(text)
    if scheme in LOCAL_SCHEMES:
        return str(Path(text.removeprefix("file://")).expanduser().resolve())
    schemes = supported_schemes()
    if scheme not in schemes:
        raise ConfigError(
            f"{text}: the scheme {scheme}:// is not served by TensorFlow's file systems here "
            f"(served: local paths, {', '.join(s + '://' for s in schemes)})\n"
            "  fix: pass a local folder or a URI of one of those schemes"
        )
    return text


def is_local(path: str) -> bool:
    return scheme_of(path) in LOCAL_SCHEMES


def renames_folders_atomically(path: str) -> bool:
    """Whether a folder under ``path`` can be renamed in one atomic step (local disks only)."""
    return is_local(path)


def local_path(path: str) -> Path:
    """``path`` for code that reads and writes with local file APIs.

    Raises:
      ConfigError: ``path`` is on a remote file system.
    """
    if is_local(path):
        return Path(path)
    raise ConfigError(
        f"{path} is not a local path, and the data components (ExampleGen, StatisticsGen, "
        "Transform, the Trainers) and the Pusher's export still use local file APIs only "
        "(Beam's file sinks, matplotlib, fpam_tf's run directory and export)\n"
        "  fix: pass a local --pipeline-root and --export-base (see docs/PIPELINES.md, "
        "'Remote pipeline roots')"
    )


def join(path: str, *parts: str) -> str:
    # URIs and local paths both separate folders with '/'.
    return posixpath.join(path, *parts)


def parent(path: str) -> str:
    return posixpath.dirname(path.rstrip("/"))


@contextlib.contextmanager
def _reported(action: str, path: str):
    """Turns TensorFlow's file-system errors into a :class:`ConfigError` naming the path."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as error:
        raise ConfigError(
            f"cannot {action} {path}: {error.message}\n"
            "  fix: check that the location exists and is writable (for gs://, that Google Cloud "
            "credentials are set and the network is reachable)"
        ) from error


def exists(path: str) -> bool:
    import tensorflow as tf

    with _reported("look up", path):
        return tf.io.gfile.exists(path)


def isdir(path: str) -> bool:
    import tensorflow as tf

    with _reported("look up", path):
        return tf.io.gfile.isdir(path)


def makedirs(path: str) -> None:
    """Creates the folder and its missing parents (nothing when it exists)."""
    import tensorflow as tf

    with _reported("create", path):
        tf.io.gfile.makedirs(path)


def listdir(path: str) -> list[str]:
    """The names in folder ``path``, sorted; none when it is not a folder."""
    import tensorflow as tf

    if not isdir(path):
        return []
    with _reported("list", path):
        # Object stores list sub-folders with a trailing '/'.
        return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(path))


def read_bytes(path: str) -> bytes:
    import tensorflow as tf

    with _reported("read", path), tf.io.gfile.GFile(path, "rb") as stream:
        return stream.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: str):
    return json.loads(read_text(path))


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to a temporary file next to ``path`` and renames it into place, so a reader
    never sees a half-written file; creates the parent folders."""
    import tensorflow as tf

    makedirs(parent(path))
    temporary = path + ".tmp"
    with _reported("write", path):
        with tf.io.gfile.GFile(temporary, "wb") as stream:
            stream.write(text.encode("utf-8"))
        tf.io.gfile.rename(temporary, path, overwrite=True)


def write_json(path: str, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def rename(source: str, target: str) -> None:
    """Renames a file or folder (atomic for a folder only where :func:`renames_folders_atomically`);
    refuses an existing target."""
    import tensorflow as tf

    makedirs(parent(target))
    with _reported("rename", f"{source} to {target}"):
        tf.io.gfile.rename(source, target)


def remove_tree(path: str) -> None:
    """Removes a folder and everything in it; nothing when it does not exist."""
    import tensorflow as tf

    with _reported("remove", path), contextlib.suppress(tf.errors.NotFoundError):
        tf.io.gfile.rmtree(path)
