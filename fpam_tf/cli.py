"""What every command-line entry point shares: user errors printed without a traceback."""

from __future__ import annotations

import functools
import sys

from fpam_tf.errors import FpamError


def user_errors(main):
    """Runs ``main``; an :class:`FpamError` prints ``error: ...`` on stderr and exits with status 2."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except FpamError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print("interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper
