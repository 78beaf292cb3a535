"""Bus.metrics() is OpenMetrics text that Prometheus's own parser reads, with the documented
names and labels and values that match what happened."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families

import ringbus


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_metrics_parse_and_count_what_happened(data_dir: Path) -> None:
    with ringbus.Bus(data_dir) as bus:
        topic = bus.topic("readings", partitions=2, durability="sync")
        sub = topic.subscribe("earliest")
        member = topic.group("billing", "earliest")
        for i in range(10):
            topic.publish(i.to_bytes(8, "little"), key=str(i).encode())
        assert len(sub.poll_batch(4, timeout=1.0)) == 4
        text = bus.metrics()
        assert text.endswith("# EOF\n")
        m = samples(text)
        part = lambda p: frozenset({("topic", "readings"), ("partition", str(p))})  # noqa: E731
        assert m[("ringbus_topics", frozenset())] == 1
        assert sum(m[("ringbus_published_total", part(p))] for p in (0, 1)) == 10
        assert sum(m[("ringbus_fsyncs_total", part(p))] for p in (0, 1)) >= 2
        for p in (0, 1):
            assert m[("ringbus_durable_offset", part(p))] == m[("ringbus_next_offset", part(p))]
            assert m[("ringbus_poisoned", part(p))] == 0
            assert m[("ringbus_fsync_seconds_count", part(p))] == m[("ringbus_fsyncs_total", part(p))]
            assert m[("ringbus_fsync_seconds_bucket", part(p) | {("le", "+Inf")})] == m[("ringbus_fsyncs_total", part(p))]
        sub_labels = frozenset({("topic", "readings"), ("reader", "subscription #1")})
        assert m[("ringbus_reader_delivered_total", sub_labels)] == 4
        assert m[("ringbus_reader_lag_events", sub_labels)] == 6
        group = frozenset({("topic", "readings"), ("group", "billing")})
        assert m[("ringbus_reader_lag_events", group)] == 10
        assert m[("ringbus_group_members", group)] == 1
        one = samples(topic.metrics())
        assert ("ringbus_topics", frozenset()) not in one
        assert one[("ringbus_published_total", part(0))] == m[("ringbus_published_total", part(0))]
        member.close()
    assert bus.metrics() == ""


def test_memory_topics_have_no_disk_families(bus: ringbus.Bus) -> None:
    bus.topic("m").publish(b"x")
    names = {f.name for f in text_string_to_metric_families(bus.metrics())}
    assert "ringbus_published" in names and "ringbus_reader_delivered" not in names
    assert "ringbus_fsyncs" not in names and "ringbus_fsync_seconds" not in names
