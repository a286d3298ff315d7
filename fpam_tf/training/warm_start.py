"""Warm start: a new run's model initialised from an earlier run's best weights, across
vocabularies (retraining on a newer log, where items come and go)."""

from __future__ import annotations

import numpy as np

from fpam_tf.errors import ConfigError
from fpam_tf.training.run_dir import RunDir, load_model
from fpam_tf.vocabulary import Vocabulary

# The SessionRecommender attributes holding variables, and which variables have a row per item or
# per user (copied by id, not by position).
COMPONENTS = (
    "item_embedding",
    "flag_embedding",
    "user_embedding",
    "encoder",
    "fp_term",
    "skip_head",
)
PER_ITEM = {("item_embedding", "embeddings"), ("skip_head", "item_bias")}
PER_USER = {("user_embedding", "embeddings")}


def warm_start(model, source: RunDir, items: Vocabulary, users: Vocabulary) -> dict:
    """Copies ``source``'s best weights into ``model``, a freshly built model of the new run whose
    vocabularies are ``items`` and ``users``; its optimizer starts afresh.

    Per-item rows (the item table, a skip head's item biases) are copied by item id: an item in
    both vocabularies keeps its row, a new item keeps its fresh initialisation, an item the new log
    no longer has is dropped; per-user rows (the user table) likewise by user id. Every other
    variable is copied by its path when the shapes agree (the encoder, the flag embedding, the
    f_FPA module, the skip head's query); one the earlier model lacks (say a skip head it did not
    have) keeps its fresh initialisation.

    Returns the record a run keeps in ``warm_start.json``: the source, how many items and users
    were kept / new / dropped, and which variables were copied and which start fresh.

    Raises:
      ConfigError: ``source`` has no trained model, or another backbone or embedding size.
    """
    config, earlier, earlier_items, earlier_users = load_model(source)
    if (config.model, config.embedding_dim, config.hidden_units) != (
        model.backbone_name,
        model.embedding_dim,
        model.hidden_units,
    ):
        raise ConfigError(
            f"--init-from {source.path}: that run is {config.model} with embedding_dim "
            f"{config.embedding_dim} and hidden_units {config.hidden_units}; this one is "
            f"{model.backbone_name} with {model.embedding_dim} and {model.hidden_units}. "
            "Warm start needs the same backbone and sizes: pass the same --model, "
            "--embedding-dim and --hidden-units, or start cold"
        )
    item_rows = _row_map(items, earlier_items)
    user_rows = _row_map(users, earlier_users)
    copied, fresh, handled = [], [], set()
    # Layer by layer, through the attributes every SessionRecommender has: variable paths carry
    # Keras' automatic name suffixes, which differ between models built in one process.
    for component in COMPONENTS:
        layer, old_layer = getattr(model, component), getattr(earlier, component)
        if layer is None:
            continue
        for index, variable in enumerate(layer.weights):
            handled.add(id(variable))
            name = f"{component}/{variable.name}"
            old = old_layer.weights[index] if old_layer is not None else None
            rows = (
                item_rows
                if (component, variable.name) in PER_ITEM
                else user_rows
                if (component, variable.name) in PER_USER
                else None
            )
            if old is None or (rows is None and tuple(old.shape) != tuple(variable.shape)):
                fresh.append(name)
                continue
            value = np.asarray(old)
            if rows is not None:
                updated = np.array(variable.numpy())
                known = rows > 0
                known[0] = True  # padding's row, whatever it holds
                updated[known] = value[rows[known]]
                value = updated
            variable.assign(value)
            copied.append(name)
    fresh += [v.path for v in model.weights if id(v) not in handled]
    return {
        "from": str(source.path),
        "items": _counts(item_rows, len(earlier_items)),
        "users": _counts(user_rows, len(earlier_users)),
        "copied": copied,
        "fresh": fresh,
    }


def _row_map(new: Vocabulary, earlier: Vocabulary) -> np.ndarray:
    """int64 ``[len(new)]``: for each row of the new vocabulary, its row in the earlier one (0:
    not there; row 0, padding, maps to 0)."""
    return np.concatenate([[0], earlier.lookup(new.ids)]).astype(np.int64)


def _counts(rows: np.ndarray, earlier_size: int) -> dict:
    kept = int((rows[1:] > 0).sum())
    return {"kept": kept, "new": len(rows) - 1 - kept, "dropped": earlier_size - 1 - kept}
