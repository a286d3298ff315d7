"""Named choices (backbones, methods, datasets, precisions): one registry per kind.

A name is validated in one place, the registry that holds it: :meth:`Registry.get` raises a
:class:`~fpam_tf.errors.ConfigError` that lists the valid names. Command lines read their choices
and help text from the same registry, so adding an entry adds it everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from fpam_tf.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered mapping ``name -> entry`` with a one-line description per name.

    Iterating yields the names in registration order, so ``", ".join(registry)`` and
    ``name in registry`` read as they would on a tuple of names.

    Args:
      kind: what the names are (``"backbone"``, ``"method"``, ...), used in error messages.
      normalize: applied to a name before lookup (e.g. ``str.lower`` for case-insensitive names).
    """

    def __init__(self, kind: str, normalize: Callable[[str], str] | None = None):
        self.kind = kind
        self._normalize = normalize or (lambda name: name)
        self._entries: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, entry: T, description: str = "") -> T:
        """Adds ``entry`` under ``name``; a name can be registered once."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._entries[name] = entry
        self._descriptions[name] = description
        return entry

    def unregister(self, name: str) -> None:
        """Removes ``name`` (tests that register a temporary entry)."""
        del self._entries[name]
        del self._descriptions[name]

    def get(self, name: str) -> T:
        """The entry of ``name``.

        Raises:
          ConfigError: ``name`` is not registered (the message lists the valid names).
        """
        key = self._normalize(str(name).strip())
        if key not in self._entries:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self)}"
            )
        return self._entries[key]

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name`` (validated as :meth:`get` does)."""
        self.get(name)
        return self._normalize(str(name).strip())

    def description(self, name: str) -> str:
        return self._descriptions[self.canonical(name)]

    def help(self) -> str:
        """``"name (description), ..."`` for command-line help."""
        return ", ".join(
            f"{name} ({text})" if text else name for name, text in self._descriptions.items()
        )

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._normalize(name.strip()) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self)})"
