"""``python -m fpam_tf.data``: prepare a dataset and print its PROTOCOL figures.

    python -m fpam_tf.data stats --dataset spotify --data-dir ../shared/datasets/spotify_mssd_sample

prints one JSON object: sessions per split, events, FP ratio, vocabulary size, and the window
counts of every method family (PROTOCOL §6).
"""

from __future__ import annotations

import argparse
import json

import fpam_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from fpam_tf import datasets
from fpam_tf.cli import add_dataset_arguments, parse_options, user_errors
from fpam_tf.protocol import ProtocolData


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fpam_tf.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    stats = sub.add_parser(
        "stats", help="prepare the dataset (if needed) and print its PROTOCOL figures as JSON"
    )
    add_dataset_arguments(stats)
    stats.add_argument(
        "--strict",
        action="store_true",
        help="fail on the first malformed row instead of skipping it",
    )
    return p


def stats(
    name: str,
    data_dir=None,
    *,
    tfds_dir=None,
    strict: bool = False,
    verbose: bool = False,
    **options,
) -> dict:
    """The PROTOCOL figures of a dataset, with the rows skipped as malformed."""
    prepared = datasets.load(
        name, data_dir, tfds_dir=tfds_dir, strict=strict, verbose=verbose, **options
    )
    figures = {
        "dataset": name,
        **ProtocolData.from_sessions(prepared.splits).stats(prepared.splits),
    }
    figures["config"] = prepared.config
    figures["bad_rows"] = prepared.bad_rows.total
    return figures


@user_errors
def main(argv=None):
    args = parser().parse_args(argv)
    print(
        json.dumps(
            stats(
                args.dataset,
                args.data_dir,
                tfds_dir=args.tfds_dir,
                strict=args.strict,
                verbose=args.verbose,
                **parse_options(args.dataset_option),
            ),
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
