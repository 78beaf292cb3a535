"""Follows topic "readings" live while another process (ffi/examples/producer.c) publishes
into the data directory, into polars: readings per sensor and their mean temperature.

usage: follow_readings.py <data dir> <readings>
prints: a table per sensor, then "followed <n> readings, checksum <sum of seq>"
"""

import sys

import polars as pl

import ringbus

data_dir, expected = sys.argv[1], int(sys.argv[2])
follower = ringbus.Follower(data_dir)  # read-only: no lock, never holds the producer back
readings = follower.subscribe("readings", "earliest")  # waits for the topic if it is not there yet
frames, seen = [], 0
while seen < expected:
    batch = readings.poll_batch(10_000, timeout=10.0)  # sleeps (inotify) until the producer writes
    if len(batch) == 0:
        sys.exit(f"no reading came for 10 s after {seen}")
    frames.append(pl.DataFrame(batch))  # offset, partition, timestamp, key, payload
    seen += len(batch)
frame = pl.concat(frames).with_columns(
    pl.col("key").cast(pl.String),
    pl.col("payload").cast(pl.String).str.json_path_match("$.celsius").cast(pl.Float64).alias("celsius"),
    pl.col("payload").cast(pl.String).str.json_path_match("$.seq").cast(pl.Int64).alias("seq"),
)
per_sensor = frame.group_by("key").agg(pl.len().alias("readings"), pl.col("celsius").mean().alias("mean"))
print(per_sensor.sort("key").head(3))
print(f"followed {seen} readings, checksum {frame['seq'].sum()}")
