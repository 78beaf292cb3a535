"""Conversions of event batches to other libraries' types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._ringbus import EventBatch


def to_pandas(batch: EventBatch) -> Any:
    """A pandas DataFrame of the batch: through pyarrow when it is installed (timestamps as
    datetime64[ns, UTC]), else from ``to_pylist``."""
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError as e:
        raise ImportError("EventBatch.to_pandas needs pandas: pip install pandas") from e
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
    except ImportError:
        frame = pd.DataFrame(
            batch.to_pylist(), columns=["offset", "partition", "timestamp", "key", "payload"]
        )
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ns", utc=True)
        return frame
    return pa.table(batch).to_pandas()


def to_polars(batch: EventBatch) -> Any:
    """A polars DataFrame of the batch, taking its columns through the Arrow stream."""
    try:
        import polars as pl
    except ImportError as e:
        raise ImportError("EventBatch.to_polars needs polars: pip install polars") from e
    return pl.DataFrame(batch)
