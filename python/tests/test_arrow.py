"""Arrow export and import: 100k events round-trip through pyarrow, polars and pandas; the
exported columns are the batch's own memory."""

from __future__ import annotations

import pytest

import ringbus

pa = pytest.importorskip("pyarrow", reason="the test command installs pyarrow")


def test_round_trip_of_100k_events() -> None:
    n = 100_000
    payloads = pa.array([b"%08d" % i + b"\x00" * 56 for i in range(n)], type=pa.binary())
    keys = pa.array([f"sensor-{i % 1000}" for i in range(n)], type=pa.large_string())
    with ringbus.Bus() as bus:
        topic = bus.topic("readings", partitions=4, capacity=64 << 20)
        sub = topic.subscribe("earliest")
        assert topic.publish_many(payloads, keys=keys) == n
        batch = sub.poll_batch(n, timeout=5.0)
        while len(batch) < n:  # the first call may see only some partitions' frontiers
            more = sub.poll_batch(n - len(batch), timeout=5.0)
            batch = _concat(batch, more)
    table = pa.table(batch) if isinstance(batch, ringbus.EventBatch) else batch
    table.validate(full=True)
    assert table.num_rows == n
    assert table.schema.names == ["offset", "partition", "timestamp", "key", "payload"]
    assert str(table.schema.field("timestamp").type) == "timestamp[ns, tz=UTC]"
    rows = sorted(zip(table.column("payload").to_pylist(), table.column("key").to_pylist()))
    assert rows == sorted(zip(payloads.to_pylist(), [k.encode() for k in keys.to_pylist()]))


def _concat(a: ringbus.EventBatch | pa.Table, b: ringbus.EventBatch) -> pa.Table:
    left = pa.table(a) if isinstance(a, ringbus.EventBatch) else a
    return pa.concat_tables([left, pa.table(b)])


def test_exports_share_the_batch_memory(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe("earliest")
    topic.publish_many([b"a" * 100, b"b" * 100], keys=[b"k", None])
    batch = sub.poll_batch(10, timeout=1.0)
    first = pa.table(batch).column("payload").chunks[0].buffers()[2].address
    second = pa.record_batch(batch).column(4).buffers()[2].address
    assert first == second, "both exports point at the batch's own payload bytes"
    key = pa.record_batch(batch).column("key")
    assert key.to_pylist() == [b"k", None] and key.null_count == 1
    schema = pa.schema(batch)
    assert schema.field("key").nullable and not schema.field("payload").nullable


def test_the_batch_outlives_its_exports_and_the_other_way_round(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe("earliest")
    topic.publish_many([b"x%d" % i for i in range(100)])
    batch = sub.poll_batch(100, timeout=1.0)
    table = pa.table(batch)
    del batch  # the table keeps the columns alive
    assert table.column("payload")[99].as_py() == b"x99"
    batch2 = sub.poll_batch(100, timeout=0)
    assert len(batch2) == 0
    # Capsules dropped without being consumed release what they hold.
    topic.publish(b"y")
    b3 = sub.poll_batch(10, timeout=1.0)
    for _ in range(1000):
        b3.__arrow_c_array__()
        b3.__arrow_c_stream__()
        b3.__arrow_c_schema__()


def test_polars_and_pandas(bus: ringbus.Bus) -> None:
    pl = pytest.importorskip("polars", reason="the test command installs polars")
    pd = pytest.importorskip("pandas", reason="the test command installs pandas")
    topic = bus.topic("t", partitions=2)
    sub = topic.subscribe("earliest")
    for i in range(1000):
        topic.publish(str(i % 7).encode(), key=f"sensor-{i % 3}")
    batch = sub.poll_batch(1000, timeout=1.0)
    assert len(batch) == 1000
    frame = pl.DataFrame(batch)
    assert frame.columns == ["offset", "partition", "timestamp", "key", "payload"]
    assert str(frame.schema["timestamp"]).startswith("Datetime")
    assert batch.to_polars().equals(frame)
    series = pl.from_arrow(batch)  # a struct Series: polars.from_arrow's reading of an array
    assert series.struct.unnest().equals(frame)
    agg = (
        frame.with_columns(pl.col("payload").cast(pl.String).cast(pl.Int64).alias("v"))
        .group_by("key")
        .agg(pl.col("v").sum())
        .sort("key")
    )
    expected = {f"sensor-{k}".encode(): sum(i % 7 for i in range(1000) if i % 3 == k) for k in range(3)}
    assert dict(zip(agg["key"].to_list(), agg["v"].to_list())) == expected
    df = batch.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 1000
    assert str(df["timestamp"].dtype).startswith("datetime64[ns")


def test_publish_many_from_arrow_with_offset_and_nulls(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe("earliest")
    values = pa.array([b"skip", b"one", b"two", b"three"]).slice(1)  # a non-zero array offset
    keys = pa.array(["k1", None, "k3"])
    assert topic.publish_many(values, keys=keys) == 3
    got = [(e.payload, e.key) for e in sub.poll_batch(10, timeout=1.0)]
    assert got == [(b"one", b"k1"), (b"two", None), (b"three", b"k3")]
