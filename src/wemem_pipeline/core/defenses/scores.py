"""Mem-scores looked up for a model's members, with the check that none is missing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import ParameterError


def member_scores(
    mem_scores: pd.DataFrame | None, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Raw and rank-normalized scores of ``members``, in the order of ``members``."""
    if mem_scores is None:
        raise ParameterError("this defense needs mem-scores: run the memorability pipeline")
    table = mem_scores.set_index("sample_index")
    members = np.asarray(members, dtype=np.int64)
    missing = np.setdiff1d(members, table.index.to_numpy())
    if len(missing):
        raise ParameterError(
            f"the mem-scores have no score for {len(missing)} training samples (e.g. "
            f"{missing[:5].tolist()}); they were computed for another split or dataset: rerun "
            "the memorability pipeline (or import scores that cover the pool)"
        )
    rows = table.loc[members]
    return rows["raw_score"].to_numpy(float), rows["score"].to_numpy(float)
