"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(text_size: int = 8, max_leaves: int = 20, finite: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, numbers, strings, and lists and objects of them."""
    floats = st.floats(allow_nan=False, allow_infinity=not finite)
    scalars = st.none() | st.booleans() | st.integers() | floats | st.text(max_size=text_size)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=text_size), inner, max_size=4),
        max_leaves=max_leaves,
    )
