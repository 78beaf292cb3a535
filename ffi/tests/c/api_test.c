/* Exercises the ringbus C API from C, error paths included. Compiled with
 * -std=c11 -Wall -Wextra -Werror -pedantic and run by scripts/check.sh (plain, and under
 * AddressSanitizer + UndefinedBehaviorSanitizer). Prints "api_test: ok" and exits 0 on
 * success; any failed check prints where and exits 1. */
#define _POSIX_C_SOURCE 200809L /* poll() */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringbus.h"

static int failures = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, rb_last_error_message());                   \
            failures++;                                                          \
        }                                                                        \
    } while (0)

#define CHECK_STATUS(call, expected) CHECK((call) == (expected))

struct seen {
    size_t count;
    uint64_t sum;
};

static int32_t on_event(void *user, const rb_event_view *event) {
    struct seen *seen = (struct seen *)user;
    uint64_t v = 0;
    if (event->payload.len >= sizeof v) {
        memcpy(&v, event->payload.data, sizeof v);
    }
    seen->count++;
    seen->sum += v;
    return 0;
}

static void test_version_and_status(void) {
    CHECK(rb_version() == RB_VERSION);
    CHECK(strcmp(rb_status_str(RB_OK), "ok") == 0);
    CHECK(rb_status_str(-12345) != NULL);
    CHECK(rb_last_error_message() != NULL);
}

static void test_bad_arguments(void) {
    rb_config *config = NULL;
    CHECK_STATUS(rb_config_new(NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_config_new(&config), RB_OK);
    CHECK_STATUS(rb_config_set(config, "no_such_key", "1"), RB_ERR_INVALID_ARG);
    CHECK(strstr(rb_last_error_message(), "no_such_key") != NULL);
    CHECK_STATUS(rb_config_set(config, NULL, "1"), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_config_set(NULL, "capacity", "1"), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_config_set(config, "capacity", "\xff\xfe"), RB_ERR_INVALID_ARG); /* not UTF-8 */
    CHECK_STATUS(rb_config_set(config, "capacity", "4k"), RB_ERR_INVALID_ARG);       /* not a number */
    CHECK(strstr(rb_last_error_message(), "capacity") != NULL);
    CHECK_STATUS(rb_config_set(config, "durability", "fast"), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_config_set(config, "dedup_window_ms", "1500"), RB_OK);           /* the whole table */
    CHECK_STATUS(rb_config_set(config, "wait", "yield"), RB_OK);
    CHECK_STATUS(rb_config_set(config, "capacity", "5000"), RB_OK);                  /* checked on use */

    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(NULL, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_bus_open(NULL, &bus), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "bad", config, &topic), RB_ERR_INVALID_ARG); /* capacity 5000 */
    CHECK(topic == NULL);                                                       /* out untouched */
    CHECK_STATUS(rb_topic_create(bus, "../escape", NULL, &topic), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_topic_open(bus, "missing", &topic), RB_ERR_NOT_FOUND);
    CHECK_STATUS(rb_topic_create(bus, "", NULL, &topic), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_topic_create(NULL, "t", NULL, &topic), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_topic_create(bus, "t", NULL, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_topic_open(bus, NULL, &topic), RB_ERR_NULL_ARG);

    CHECK_STATUS(rb_config_set(config, "capacity", "65536"), RB_OK);
    CHECK_STATUS(rb_config_set(config, "max_payload", "100"), RB_OK);
    CHECK_STATUS(rb_topic_create(bus, "small", config, &topic), RB_OK);
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    char big[200] = {0};
    CHECK_STATUS(rb_publish(publisher, (const uint8_t *)big, sizeof big, NULL), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_publish(publisher, NULL, 5, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_publish(NULL, (const uint8_t *)big, 5, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_publish(publisher, NULL, 0, NULL), RB_OK); /* an empty payload is fine */

    rb_subscription *sub = NULL;
    CHECK_STATUS(rb_subscribe(topic, 99, 0, RB_POLICY_BLOCK, &sub), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, 77, &sub), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_subscribe(topic, RB_START_COMMITTED, 0, RB_POLICY_BLOCK, &sub), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_group_join(topic, "g", RB_START_COMMITTED, 0, &sub), RB_ERR_NOT_PERSISTED);
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_BLOCK, &sub), RB_OK);
    CHECK_STATUS(rb_commit(sub), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_poll_each(sub, 10, 0, NULL, NULL, NULL), RB_ERR_NULL_ARG);

    /* Handles outlive the bus: they report closed, and freeing them stays safe. */
    rb_bus_free(bus);
    CHECK_STATUS(rb_publish(publisher, (const uint8_t *)"x", 1, NULL), RB_ERR_CLOSED);
    rb_event *event = NULL;
    CHECK_STATUS(rb_poll(sub, 0, &event), RB_OK); /* the empty event published before close */
    CHECK(rb_event_payload(event).len == 0);
    rb_event_free(event);
    CHECK_STATUS(rb_poll(sub, 0, &event), RB_ERR_CLOSED);

    rb_subscription_free(sub);
    rb_publisher_free(publisher);
    rb_topic_free(topic);
    rb_config_free(config);
    /* Freeing NULL is a no-op. */
    rb_subscription_free(NULL);
    rb_publisher_free(NULL);
    rb_topic_free(NULL);
    rb_config_free(NULL);
    rb_bus_free(NULL);
    rb_event_free(NULL);
    /* Accessors of NULL return neutral values. */
    CHECK(rb_event_payload(NULL).len == 0 && rb_event_offset(NULL) == 0);
}

static void test_publish_and_poll(void) {
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(NULL, &bus), RB_OK);
    rb_config *config = NULL;
    CHECK_STATUS(rb_config_new(&config), RB_OK);
    CHECK_STATUS(rb_config_set(config, "partitions", "2"), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "readings", config, &topic), RB_OK);
    rb_topic *again = NULL;
    CHECK_STATUS(rb_topic_open(bus, "readings", &again), RB_OK); /* the existing one */
    CHECK_STATUS(rb_topic_create(bus, "readings", config, &topic), RB_ERR_EXISTS);

    rb_subscription *fanout = NULL, *worker = NULL;
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_BLOCK, &fanout), RB_OK);
    CHECK_STATUS(rb_group_join(again, "aggregators", RB_START_EARLIEST, 0, &worker), RB_OK);

    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    uint64_t sum = 0, offset = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        char key[16];
        int key_len = snprintf(key, sizeof key, "sensor-%u", (unsigned)(i % 10));
        CHECK_STATUS(rb_publish_keyed(publisher, (const uint8_t *)&i, sizeof i, (const uint8_t *)key,
                                      (size_t)key_len, 1000 + i, &offset),
                     RB_OK);
        sum += i;
    }
    uint64_t values[64];
    rb_slice slices[64];
    for (size_t i = 0; i < 64; i++) {
        values[i] = 1000 + i;
        slices[i].data = (const uint8_t *)&values[i];
        slices[i].len = sizeof values[i];
        sum += values[i];
    }
    CHECK_STATUS(rb_publish_batch(publisher, slices, 64), RB_OK);
    CHECK_STATUS(rb_publish_batch(publisher, NULL, 3), RB_ERR_NULL_ARG);

    /* The fanout subscription sees every event: one owned, the rest borrowed. */
    rb_event *first = NULL;
    CHECK_STATUS(rb_poll(fanout, 1000, &first), RB_OK);
    rb_slice payload = rb_event_payload(first);
    rb_slice key = rb_event_key(first);
    uint64_t first_value = 0;
    CHECK(payload.len == sizeof first_value);
    memcpy(&first_value, payload.data, sizeof first_value);
    CHECK(key.len > 0 && memcmp(key.data, "sensor-", 7) == 0);
    CHECK(rb_event_timestamp(first) >= 1000);
    CHECK(rb_event_partition(first) < 2);
    rb_event_free(first);
    struct seen seen = {1, first_value};
    while (seen.count < 1064) {
        size_t n = 0;
        int32_t status = rb_poll_each(fanout, 256, 1000, on_event, &seen, &n);
        CHECK(status == RB_OK);
        if (status != RB_OK) {
            break;
        }
    }
    CHECK(seen.count == 1064 && seen.sum == sum);

    /* The group member gets each event once too (it is the only member). */
    struct seen group = {0, 0};
    while (group.count < 1064) {
        if (rb_poll_each(worker, 256, 1000, on_event, &group, NULL) != RB_OK) {
            break;
        }
    }
    CHECK(group.count == 1064 && group.sum == sum);
    rb_event *none = NULL;
    CHECK_STATUS(rb_poll(worker, 0, &none), RB_ERR_TIMED_OUT);
    CHECK(none == NULL);

    /* Closing the bus ends the readers once they have drained. */
    CHECK_STATUS(rb_bus_close(bus), RB_OK);
    CHECK_STATUS(rb_bus_close(NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_poll(fanout, 0, &none), RB_ERR_CLOSED);
    CHECK_STATUS(rb_publish(publisher, (const uint8_t *)"late", 4, NULL), RB_ERR_CLOSED);
    rb_subscription_free(fanout);
    rb_subscription_free(worker);
    rb_publisher_free(publisher);
    rb_topic_free(again);
    rb_topic_free(topic);
    rb_config_free(config);
    rb_bus_free(bus);
}

static int freed_calls = 0;

static void free_buffer(uint8_t *data, size_t len, void *ctx) {
    (void)len;
    CHECK(ctx == (void *)&freed_calls);
    free(data);
    freed_calls++;
}

static void test_claims_buffers_batches_stats(void) {
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(NULL, &bus), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "t", NULL, &topic), RB_OK);
    rb_subscription *sub = NULL;
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_DROP_OLDEST, &sub), RB_OK);
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);

    /* Zero-copy: claim, write in place, commit; an aborted claim publishes nothing. */
    uint8_t *room = NULL;
    CHECK_STATUS(rb_claim(publisher, 5, &room), RB_OK);
    CHECK(room != NULL && room[0] == 0);
    CHECK_STATUS(rb_claim(publisher, 5, &room), RB_ERR_INVALID_ARG);       /* one at a time */
    CHECK_STATUS(rb_publish(publisher, room, 1, NULL), RB_ERR_INVALID_ARG); /* not while one is open */
    memcpy(room, "hello", 5);
    uint64_t offset = 99;
    CHECK_STATUS(rb_claim_commit(publisher, &offset), RB_OK);
    CHECK(offset == 0);
    CHECK_STATUS(rb_claim_commit(publisher, NULL), RB_ERR_INVALID_ARG); /* none open */
    CHECK_STATUS(rb_claim(publisher, 3, &room), RB_OK);
    CHECK_STATUS(rb_claim_abort(publisher), RB_OK);
    CHECK_STATUS(rb_claim_abort(publisher), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_claim(NULL, 3, &room), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_claim(publisher, 3, NULL), RB_ERR_NULL_ARG);

    /* A caller buffer handed over with its free function: freed exactly once, on success. */
    uint8_t *buffer = malloc(6);
    memcpy(buffer, "world!", 6);
    CHECK_STATUS(rb_publish_buffer(publisher, buffer, 6, free_buffer, &freed_calls, NULL), RB_OK);
    CHECK(freed_calls == 1);
    uint8_t *big = calloc(2 << 20, 1); /* above the 1 MiB default max_payload: stays ours */
    CHECK_STATUS(rb_publish_buffer(publisher, big, 2 << 20, free_buffer, &freed_calls, NULL), RB_ERR_INVALID_ARG);
    CHECK(freed_calls == 1);
    free(big);
    CHECK_STATUS(rb_publish_buffer(publisher, NULL, 0, NULL, NULL, NULL), RB_ERR_NULL_ARG);

    /* A batch: events borrowed until the batch is freed. */
    rb_batch *batch = NULL;
    CHECK_STATUS(rb_poll_batch(sub, 10, 1000, &batch), RB_OK);
    CHECK(rb_batch_len(batch) == 2);
    rb_event_view view;
    CHECK_STATUS(rb_batch_get(batch, 0, &view), RB_OK);
    CHECK(view.payload.len == 5 && memcmp(view.payload.data, "hello", 5) == 0 && view.offset == 0);
    CHECK_STATUS(rb_batch_get(batch, 1, &view), RB_OK);
    CHECK(view.payload.len == 6 && memcmp(view.payload.data, "world!", 6) == 0);
    CHECK_STATUS(rb_batch_get(batch, 2, &view), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_batch_get(NULL, 0, &view), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_batch_get(batch, 0, NULL), RB_ERR_NULL_ARG);
    rb_batch_free(batch);
    rb_batch_free(NULL);
    CHECK(rb_batch_len(NULL) == 0);
    batch = NULL;
    CHECK_STATUS(rb_poll_batch(sub, 10, 0, &batch), RB_ERR_TIMED_OUT);
    CHECK(batch == NULL);

    rb_topic_stats stats;
    CHECK_STATUS(rb_topic_get_stats(topic, &stats), RB_OK);
    CHECK(stats.published == 2 && stats.partitions == 1 && stats.readers == 1 && stats.delivered == 2);
    CHECK(stats.fsyncs == 0 && stats.lag == 0);
    CHECK_STATUS(rb_topic_get_stats(topic, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_topic_get_stats(NULL, &stats), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_topic_flush(topic, 0), RB_OK); /* in memory: nothing to wait for */

    /* A publisher freed with a claim open: the claim becomes padding, nothing leaks. */
    CHECK_STATUS(rb_claim(publisher, 8, &room), RB_OK);
    rb_publisher_free(publisher);
    rb_subscription_free(sub);
    rb_topic_free(topic);
    rb_bus_free(bus);
}

static void test_eviction(void) {
    rb_config *config = NULL;
    CHECK_STATUS(rb_config_new(&config), RB_OK);
    CHECK_STATUS(rb_config_set(config, "capacity", "65536"), RB_OK);
    CHECK_STATUS(rb_config_set(config, "max_payload", "1024"), RB_OK);
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(NULL, &bus), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "evict", config, &topic), RB_OK);
    rb_subscription *slow = NULL;
    CHECK_STATUS(rb_subscribe_evicting(topic, RB_START_EARLIEST, 0, 20, &slow), RB_OK);
    CHECK_STATUS(rb_subscribe_evicting(NULL, RB_START_EARLIEST, 0, 20, &slow), RB_ERR_NULL_ARG);
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    /* Far more than the ring holds: the publisher waits, then the reader is evicted. */
    uint8_t payload[1000] = {0};
    for (int i = 0; i < 500; i++) {
        CHECK_STATUS(rb_publish(publisher, payload, sizeof payload, NULL), RB_OK);
    }
    rb_event *event = NULL;
    rb_status s;
    do {
        s = rb_poll(slow, 0, &event);
        if (s == RB_OK) rb_event_free(event);
    } while (s == RB_OK);
    CHECK(s == RB_ERR_EVICTED);
    rb_publisher_free(publisher);
    rb_subscription_free(slow);
    rb_topic_free(topic);
    rb_bus_free(bus);
    rb_config_free(config);
}

/* rb_poll_views: in place for a blocking subscription, copied for drop_oldest and group
 * members; every view holds its event's bytes until the next call. */
static void check_views(rb_subscription *sub, const char *what) {
    rb_event_view views[64];
    size_t n = 99;
    CHECK_STATUS(rb_poll_views(sub, views, 64, 1000, &n), RB_OK);
    if (n != 40) {
        fprintf(stderr, "%s: got %zu views, not 40\n", what, n);
        failures++;
        return;
    }
    /* Every view is checked only after the whole batch was taken: none was overwritten. */
    for (uint32_t i = 0; i < 40; i++) {
        uint32_t v = 0;
        char key[16];
        int key_len = snprintf(key, sizeof key, "k%u", (unsigned)i);
        CHECK(views[i].payload.len == sizeof v);
        memcpy(&v, views[i].payload.data, sizeof v);
        CHECK(v == i * 3);
        CHECK(views[i].key.len == (size_t)key_len && memcmp(views[i].key.data, key, (size_t)key_len) == 0);
        CHECK(i == 0 || views[i].offset > views[i - 1].offset);
    }
    CHECK_STATUS(rb_poll_views(sub, views, 64, 0, &n), RB_ERR_TIMED_OUT);
    CHECK(n == 0);
}

static int32_t stop_now(void *user, const rb_event_view *event) {
    (void)event;
    ++*(int *)user;
    return 1;
}

static void test_poll_views(void) {
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(NULL, &bus), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "views", NULL, &topic), RB_OK);
    rb_subscription *block = NULL, *dropping = NULL, *member = NULL;
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_BLOCK, &block), RB_OK);
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_DROP_OLDEST, &dropping), RB_OK);
    CHECK_STATUS(rb_group_join(topic, "viewers", RB_START_EARLIEST, 0, &member), RB_OK);
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    for (uint32_t i = 0; i < 40; i++) {
        uint32_t v = i * 3;
        char key[16];
        int key_len = snprintf(key, sizeof key, "k%u", (unsigned)i);
        CHECK_STATUS(rb_publish_keyed(publisher, (const uint8_t *)&v, sizeof v, (const uint8_t *)key, (size_t)key_len,
                                      0, NULL),
                     RB_OK);
    }
    /* A callback that stops leaves the events after it unread. */
    rb_subscription *stopper = NULL;
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_BLOCK, &stopper), RB_OK);
    int calls = 0;
    size_t handled = 0;
    CHECK_STATUS(rb_poll_each(stopper, 100, 0, stop_now, &calls, &handled), RB_OK);
    CHECK(calls == 1 && handled == 1);
    rb_event_view rest[64];
    CHECK_STATUS(rb_poll_views(stopper, rest, 64, 0, &handled), RB_OK);
    uint32_t second = 0;
    CHECK(handled == 39 && rest[0].payload.len == sizeof second);
    memcpy(&second, rest[0].payload.data, sizeof second);
    CHECK(second == 3);
    rb_subscription_free(stopper);
    check_views(block, "block");
    check_views(dropping, "drop_oldest");
    check_views(member, "member");

    rb_event_view view;
    size_t n = 0;
    CHECK_STATUS(rb_poll_views(NULL, &view, 1, 0, &n), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_poll_views(block, NULL, 1, 0, &n), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_poll_views(block, &view, 1, 0, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_poll_views(block, &view, 0, 0, &n), RB_ERR_INVALID_ARG);
    CHECK(strstr(rb_last_error_message(), "max") != NULL);
    rb_publisher_free(publisher);
    rb_subscription_free(block);
    rb_subscription_free(dropping);
    rb_subscription_free(member);
    rb_topic_free(topic);
    rb_bus_free(bus);
}

static int readable(int fd, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void test_readiness_fd(void) {
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(NULL, &bus), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "events", NULL, &topic), RB_OK);
    rb_subscription *sub = NULL;
    CHECK_STATUS(rb_subscribe(topic, RB_START_EARLIEST, 0, RB_POLICY_BLOCK, &sub), RB_OK);
    int fd = -1, again = -1;
    CHECK_STATUS(rb_subscription_fd(sub, &fd), RB_OK);
    CHECK_STATUS(rb_subscription_fd(sub, &again), RB_OK);
    CHECK(fd >= 0 && fd == again);
    CHECK_STATUS(rb_subscription_fd(sub, NULL), RB_ERR_NULL_ARG);
    CHECK(!readable(fd, 100)); /* nothing published */
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    CHECK_STATUS(rb_publish(publisher, (const uint8_t *)"ping", 4, NULL), RB_OK);
    CHECK(readable(fd, 2000));
    CHECK(readable(fd, 0)); /* level-triggered: still readable until a poll finds nothing */
    rb_event *event = NULL;
    CHECK_STATUS(rb_poll(sub, 0, &event), RB_OK);
    rb_event_free(event);
    CHECK_STATUS(rb_poll(sub, 0, &event), RB_ERR_TIMED_OUT); /* found nothing: clears */
    CHECK(!readable(fd, 100));
    CHECK_STATUS(rb_publish(publisher, (const uint8_t *)"pong", 4, NULL), RB_OK);
    CHECK(readable(fd, 2000));
    /* A group member has one too. */
    rb_subscription *member = NULL;
    CHECK_STATUS(rb_group_join(topic, "g", RB_START_EARLIEST, 0, &member), RB_OK);
    int member_fd = -1;
    CHECK_STATUS(rb_subscription_fd(member, &member_fd), RB_OK);
    CHECK(readable(member_fd, 2000));
    rb_subscription_free(member);
    rb_publisher_free(publisher);
    rb_subscription_free(sub);
    rb_topic_free(topic);
    rb_bus_free(bus);
}

/* The configuration of the persisted tests: a bus on `dir`, sync topics of 64 KiB rings. */
static rb_config *persisted_config(const char *dir) {
    rb_config *config = NULL;
    CHECK_STATUS(rb_config_new(&config), RB_OK);
    CHECK_STATUS(rb_config_set(config, "data_dir", dir), RB_OK);
    CHECK_STATUS(rb_config_set(config, "durability", "sync"), RB_OK);
    CHECK_STATUS(rb_config_set(config, "capacity", "65536"), RB_OK);
    CHECK_STATUS(rb_config_set(config, "max_payload", "1024"), RB_OK);
    return config;
}

static void test_persisted(const char *dir) {
    rb_config *config = persisted_config(dir);
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(config, &bus), RB_OK);
    rb_bus *second = NULL;
    CHECK_STATUS(rb_bus_open(config, &second), RB_ERR_LOCKED);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "orders", config, &topic), RB_OK);
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    for (uint64_t i = 0; i < 100; i++) {
        CHECK_STATUS(rb_publish(publisher, (const uint8_t *)&i, sizeof i, NULL), RB_OK);
    }
    rb_subscription *member = NULL;
    CHECK_STATUS(rb_group_join(topic, "billing", RB_START_EARLIEST, 0, &member), RB_OK);
    struct seen seen = {0, 0};
    while (seen.count < 40) {
        CHECK_STATUS(rb_poll_each(member, 40 - seen.count, 1000, on_event, &seen, NULL), RB_OK);
    }
    CHECK_STATUS(rb_commit(member), RB_OK);
    CHECK_STATUS(rb_topic_flush(topic, 1000), RB_OK);
    rb_subscription_free(member);
    rb_publisher_free(publisher);
    rb_topic_free(topic);
    rb_bus_free(bus);

    /* Reopen: the topic is restored and the group resumes after its commit. */
    CHECK_STATUS(rb_bus_open(config, &bus), RB_OK);
    CHECK_STATUS(rb_topic_open(bus, "orders", &topic), RB_OK);
    CHECK_STATUS(rb_group_join(topic, "billing", RB_START_COMMITTED, 0, &member), RB_OK);
    rb_event *event = NULL;
    CHECK_STATUS(rb_poll(member, 1000, &event), RB_OK);
    uint64_t v = 0;
    memcpy(&v, rb_event_payload(event).data, sizeof v);
    CHECK(v == 40);
    rb_event_free(event);
    rb_subscription_free(member);
    rb_topic_free(topic);
    rb_bus_free(bus);
    rb_config_free(config);
}

/* Tickets: publish now, wait for the fsync later; one fsync covers many. */
static void test_tickets(const char *dir) {
    rb_config *config = persisted_config(dir);
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(config, &bus), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_create(bus, "ingest", config, &topic), RB_OK);
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    enum { IN_FLIGHT = 256, EVENTS = 2000 };
    rb_ticket *tickets[IN_FLIGHT] = {0};
    uint64_t last_offset = 0;
    for (uint64_t i = 0; i < EVENTS; i++) {
        rb_ticket **slot = &tickets[i % IN_FLIGHT];
        if (*slot != NULL) { /* the oldest in flight: wait for it before reusing its slot */
            CHECK_STATUS(rb_ticket_wait(*slot, 10000), RB_OK);
            rb_ticket_free(*slot);
            *slot = NULL;
        }
        const char *key = (i % 2) ? "sensor-1" : NULL;
        CHECK_STATUS(rb_publish_ticket(publisher, (const uint8_t *)&i, sizeof i, (const uint8_t *)key,
                                       key ? strlen(key) : 0, &last_offset, slot),
                     RB_OK);
    }
    CHECK(last_offset > 0);
    for (int i = 0; i < IN_FLIGHT; i++) {
        CHECK_STATUS(rb_ticket_wait(tickets[i], -1), RB_OK);
        CHECK_STATUS(rb_ticket_is_durable(tickets[i]), RB_OK);
        rb_ticket_free(tickets[i]);
    }
    rb_topic_stats stats;
    CHECK_STATUS(rb_topic_get_stats(topic, &stats), RB_OK);
    CHECK(stats.published == EVENTS);

    /* The bus's metrics, in a buffer sized by a first call. */
    size_t len = 0;
    CHECK_STATUS(rb_bus_metrics(bus, NULL, 0, &len), RB_ERR_INVALID_ARG);
    CHECK(len > 0);
    char *text = malloc(len + 4096);
    CHECK(text != NULL);
    char small[8] = "unset";
    CHECK_STATUS(rb_bus_metrics(bus, small, sizeof small, &len), RB_ERR_INVALID_ARG);
    CHECK(strcmp(small, "unset") == 0); /* nothing written when it does not fit */
    CHECK_STATUS(rb_bus_metrics(bus, text, len + 4096, &len), RB_OK);
    CHECK(strlen(text) == len);
    CHECK(strstr(text, "ringbus_published_total{topic=\"ingest\",partition=\"0\"} 2000\n") != NULL);
    CHECK(strstr(text, "# TYPE ringbus_fsync_seconds histogram") != NULL);
    CHECK(len >= 6 && strcmp(text + len - 6, "# EOF\n") == 0);
    free(text);
    CHECK_STATUS(rb_bus_metrics(NULL, NULL, 0, &len), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_bus_metrics(bus, NULL, 0, NULL), RB_ERR_NULL_ARG);
    CHECK(stats.fsyncs < EVENTS); /* group commit: fsyncs covered several tickets each */

    /* A batch's one ticket covers all of it, past a group of 64. */
    uint64_t values[100];
    rb_slice slices[100];
    for (int i = 0; i < 100; i++) {
        values[i] = (uint64_t)i;
        slices[i].data = (const uint8_t *)&values[i];
        slices[i].len = sizeof values[i];
    }
    rb_ticket *batch = NULL;
    CHECK_STATUS(rb_publish_batch_ticket(publisher, slices, 100, &batch), RB_OK);
    CHECK_STATUS(rb_ticket_wait(batch, 10000), RB_OK);
    rb_ticket_free(batch);
    CHECK_STATUS(rb_publish_batch_ticket(publisher, NULL, 0, &batch), RB_OK);
    CHECK_STATUS(rb_ticket_is_durable(batch), RB_OK);
    rb_ticket_free(batch);

    /* Bad arguments are errors. */
    rb_ticket *t = NULL;
    CHECK_STATUS(rb_publish_ticket(NULL, (const uint8_t *)"x", 1, NULL, 0, NULL, &t), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_publish_ticket(publisher, (const uint8_t *)"x", 1, NULL, 0, NULL, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_publish_ticket(publisher, NULL, 4, NULL, 0, NULL, &t), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_publish_batch_ticket(publisher, NULL, 3, &t), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_ticket_wait(NULL, 0), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_ticket_is_durable(NULL), RB_ERR_NULL_ARG);
    CHECK(t == NULL);
    rb_ticket_free(NULL);

    rb_publisher_free(publisher);
    rb_topic_free(topic);
    rb_bus_free(bus);
    rb_config_free(config);

    /* A memory topic's tickets are complete at once. */
    CHECK_STATUS(rb_bus_open(NULL, &bus), RB_OK);
    CHECK_STATUS(rb_config_new(&config), RB_OK);
    CHECK_STATUS(rb_topic_create(bus, "m", config, &topic), RB_OK);
    rb_config_free(config);
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    CHECK_STATUS(rb_publish_ticket(publisher, (const uint8_t *)"x", 1, NULL, 0, NULL, &t), RB_OK);
    CHECK_STATUS(rb_ticket_is_durable(t), RB_OK);
    CHECK_STATUS(rb_ticket_wait(t, 0), RB_OK);
    rb_ticket_free(t);
    rb_publisher_free(publisher);
    rb_topic_free(topic);
    rb_bus_free(bus);
}

/* A follower of a directory a bus has open (here the same process; any process works). */
static void test_follower(const char *dir) {
    rb_follower *follower = NULL;
    CHECK_STATUS(rb_follower_open(NULL, &follower), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_follower_open(dir, NULL), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_follower_open(dir, &follower), RB_OK);

    rb_config *config = persisted_config(dir);
    rb_bus *bus = NULL;
    CHECK_STATUS(rb_bus_open(config, &bus), RB_OK);
    rb_topic *topic = NULL;
    CHECK_STATUS(rb_topic_open(bus, "orders", &topic), RB_OK);
    rb_topic *scratch = NULL;
    CHECK_STATUS(rb_config_set(config, "durability", "memory"), RB_OK);
    CHECK_STATUS(rb_topic_create(bus, "scratch", config, &scratch), RB_OK);

    rb_subscription *sub = NULL;
    CHECK_STATUS(rb_follower_subscribe(NULL, "orders", RB_START_EARLIEST, 0, RB_VISIBILITY_WRITTEN, NULL, &sub),
                 RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_follower_subscribe(follower, "orders", RB_START_EARLIEST, 0, 7, NULL, &sub), RB_ERR_INVALID_ARG);
    CHECK_STATUS(rb_follower_subscribe(follower, "scratch", RB_START_EARLIEST, 0, RB_VISIBILITY_WRITTEN, NULL, &sub),
                 RB_ERR_NOT_PERSISTED);
    CHECK_STATUS(rb_follower_subscribe(follower, "orders", RB_START_COMMITTED, 0, RB_VISIBILITY_WRITTEN, NULL, &sub),
                 RB_ERR_INVALID_ARG); /* Committed needs a name */
    CHECK_STATUS(rb_follower_subscribe(follower, "orders", RB_START_COMMITTED, 0, RB_VISIBILITY_DURABLE, "audit", &sub),
                 RB_OK);
    /* test_persisted published 0..99 */
    struct seen seen = {0, 0};
    while (seen.count < 100) {
        CHECK_STATUS(rb_poll_each(sub, 100 - seen.count, 1000, on_event, &seen, NULL), RB_OK);
    }
    CHECK(seen.sum == 4950);
    CHECK_STATUS(rb_commit(sub), RB_OK);
    int fd = -1;
    CHECK_STATUS(rb_subscription_fd(sub, &fd), RB_OK);
    CHECK_STATUS(rb_poll_each(sub, 1, 0, on_event, &seen, NULL), RB_ERR_TIMED_OUT);
    CHECK(!readable(fd, 0));
    rb_publisher *publisher = NULL;
    CHECK_STATUS(rb_publisher_new(topic, &publisher), RB_OK);
    uint64_t v = 100;
    CHECK_STATUS(rb_publish(publisher, (const uint8_t *)&v, sizeof v, NULL), RB_OK);
    CHECK(readable(fd, 2000)); /* the owner wrote */
    rb_event *event = NULL;
    CHECK_STATUS(rb_poll(sub, 1000, &event), RB_OK);
    memcpy(&v, rb_event_payload(event).data, sizeof v);
    CHECK(v == 100);
    rb_event_free(event);
    rb_subscription_free(sub);

    rb_subscription *member = NULL;
    CHECK_STATUS(rb_follower_group_join(follower, "orders", NULL, RB_START_EARLIEST, &member), RB_ERR_NULL_ARG);
    CHECK_STATUS(rb_follower_group_join(follower, "orders", "readers", RB_START_EARLIEST, &member), RB_OK);
    seen.count = 0;
    seen.sum = 0;
    while (seen.count < 101) {
        CHECK_STATUS(rb_poll_each(member, 101 - seen.count, 1000, on_event, &seen, NULL), RB_OK);
    }
    CHECK(seen.sum == 5050);
    CHECK_STATUS(rb_commit(member), RB_OK);
    rb_subscription_free(member);
    rb_publisher_free(publisher);
    rb_topic_free(scratch);
    rb_topic_free(topic);
    rb_bus_free(bus);
    rb_config_free(config);
    rb_follower_free(follower);
    rb_follower_free(NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty scratch directory>\n", argv[0]);
        return 2;
    }
    test_version_and_status();
    test_bad_arguments();
    test_publish_and_poll();
    test_claims_buffers_batches_stats();
    test_readiness_fd();
    test_eviction();
    test_poll_views();
    test_persisted(argv[1]);
    test_tickets(argv[1]);
    test_follower(argv[1]);
    if (failures != 0) {
        fprintf(stderr, "api_test: %d checks failed\n", failures);
        return 1;
    }
    printf("api_test: ok\n");
    return 0;
}
