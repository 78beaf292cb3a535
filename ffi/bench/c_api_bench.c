/* The cost of the C API per event, single-threaded, on an in-memory topic: publish one event
 * per call, publish batches of 64, poll one event per call (rb_poll_each with max 1: borrowed,
 * no copy), poll batches of 1024 with a callback (rb_poll_each) and into an array of views
 * (rb_poll_views). 8-byte payloads. The comparison harness runs
 * this beside the same loops on the Rust API and reports the ratios.
 * usage: c_api_bench <events per run>
 * prints lines "<test> <median ns/event> <checksum>" over 5 runs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringbus.h"

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void must(rb_status s, const char *what) {
    if (s != RB_OK) {
        fprintf(stderr, "c_api_bench: %s: %s (%s)\n", what, rb_status_str(s), rb_last_error_message());
        exit(1);
    }
}

static int32_t add(void *user, const rb_event_view *e) {
    uint64_t v;
    memcpy(&v, e->payload.data, sizeof v);
    *(uint64_t *)user += v;
    return 0;
}

enum poll_mode { POLL_SINGLE, POLL_EACH, POLL_VIEWS };

static rb_event_view views[256];

/* One run: publish n events (single or batch), then read them back (poll_mode).
 * Writes the publish and poll times in ns/event; returns the checksum read. */
static uint64_t run(long n, int batch_publish, enum poll_mode mode, double *publish_ns, double *poll_ns) {
    rb_config *config = NULL;
    must(rb_config_new(&config), "config");
    must(rb_config_set(config, "capacity", "67108864"), "capacity");
    must(rb_config_set(config, "max_payload", "64"), "max_payload");
    must(rb_config_set(config, "max_key", "0"), "max_key");
    rb_bus *bus = NULL;
    must(rb_bus_open(NULL, &bus), "bus");
    rb_topic *topic = NULL;
    must(rb_topic_create(bus, "bench", config, &topic), "topic");
    rb_subscription *sub = NULL;
    must(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_BLOCK, &sub), "subscribe");
    rb_publisher *p = NULL;
    must(rb_publisher_new(topic, &p), "publisher");
    uint64_t values[64];
    rb_slice slices[64];
    double t0 = now_ns();
    if (batch_publish) {
        for (long i = 0; i < n; i += 64) {
            for (int j = 0; j < 64; j++) {
                values[j] = (uint64_t)(i + j);
                slices[j].data = (const uint8_t *)&values[j];
                slices[j].len = 8;
            }
            must(rb_publish_batch(p, slices, 64), "publish_batch");
        }
    } else {
        for (long i = 0; i < n; i++) {
            uint64_t v = (uint64_t)i;
            must(rb_publish(p, (const uint8_t *)&v, 8, NULL), "publish");
        }
    }
    double t1 = now_ns();
    uint64_t sum = 0;
    long got = 0;
    while (got < n) {
        size_t k = 0;
        if (mode == POLL_VIEWS) {
            must(rb_poll_views(sub, views, 256, 0, &k), "poll_views");
            for (size_t i = 0; i < k; i++) {
                uint64_t v;
                memcpy(&v, views[i].payload.data, sizeof v);
                sum += v;
            }
        } else {
            must(rb_poll_each(sub, mode == POLL_EACH ? 1024 : 1, 0, add, &sum, &k), "poll");
        }
        got += (long)k;
    }
    double t2 = now_ns();
    *publish_ns = (t1 - t0) / (double)n;
    *poll_ns = (t2 - t1) / (double)n;
    rb_publisher_free(p);
    rb_subscription_free(sub);
    rb_topic_free(topic);
    rb_bus_free(bus);
    rb_config_free(config);
    return sum;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    n -= n % 64;
    double pub_single[5], pub_batch[5], pub_batch2[5], poll_single[5], poll_batch[5], poll_views[5];
    uint64_t sum = 0;
    for (int r = 0; r < 5; r++) {
        sum = run(n, 0, POLL_SINGLE, &pub_single[r], &poll_single[r]);
        uint64_t each = run(n, 1, POLL_EACH, &pub_batch[r], &poll_batch[r]);
        uint64_t viewed = run(n, 1, POLL_VIEWS, &pub_batch2[r], &poll_views[r]);
        if (each != sum || viewed != sum) {
            fprintf(stderr, "c_api_bench: checksums differ: %llu %llu %llu\n", (unsigned long long)sum,
                    (unsigned long long)each, (unsigned long long)viewed);
            return 1;
        }
    }
    qsort(pub_single, 5, sizeof(double), cmp);
    qsort(pub_batch, 5, sizeof(double), cmp);
    qsort(poll_single, 5, sizeof(double), cmp);
    qsort(poll_batch, 5, sizeof(double), cmp);
    qsort(poll_views, 5, sizeof(double), cmp);
    printf("publish_single %.3f %llu\n", pub_single[2], (unsigned long long)sum);
    printf("publish_batch %.3f %llu\n", pub_batch[2], (unsigned long long)sum);
    printf("poll_single %.3f %llu\n", poll_single[2], (unsigned long long)sum);
    printf("poll_batch %.3f %llu\n", poll_batch[2], (unsigned long long)sum);
    printf("poll_views %.3f %llu\n", poll_views[2], (unsigned long long)sum);
    return 0;
}
