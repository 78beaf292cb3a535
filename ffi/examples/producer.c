/* IoT ingest, the producing side: publishes N sensor readings, keyed by sensor id, to the
 * persisted topic "readings" in a data directory (Async: written behind; rb_topic_flush at the
 * end waits until everything is durable).
 * usage: producer <data dir> <readings> [readings per second]
 * prints: published <n> readings, checksum <sum>
 * With a rate it publishes at that pace, so a follower in another process can read it live. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ringbus.h"

static int die(const char *what, rb_status status) {
    fprintf(stderr, "producer: %s: %s (%s)\n", what, rb_status_str(status), rb_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s <data dir> <readings> [readings per second]\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    long rate = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
    rb_config *config = NULL;
    rb_status s = rb_config_new(&config);
    if (s == RB_OK) s = rb_config_set(config, "data_dir", argv[1]);
    if (s == RB_OK) s = rb_config_set(config, "partitions", "4");
    if (s == RB_OK) s = rb_config_set(config, "durability", "async");
    if (s != RB_OK) return die("configuration", s);
    rb_bus *bus = NULL;
    if ((s = rb_bus_open(config, &bus)) != RB_OK) return die("opening the data directory", s);
    rb_topic *topic = NULL;
    /* Open the topic if the directory has it, else create it with the configuration. */
    if (rb_topic_open(bus, "readings", &topic) != RB_OK &&
        (s = rb_topic_create(bus, "readings", config, &topic)) != RB_OK)
        return die("creating topic readings", s);
    rb_publisher *publisher = NULL;
    if ((s = rb_publisher_new(topic, &publisher)) != RB_OK) return die("publisher", s);
    unsigned long long sum = 0;
    for (long i = 0; i < n; i++) {
        char payload[64], key[32];
        int key_len = snprintf(key, sizeof key, "sensor-%ld", i % 100);
        int len = snprintf(payload, sizeof payload, "{\"seq\":%ld,\"celsius\":%ld.%ld}", i, 15 + i % 10, i % 10);
        if ((s = rb_publish_keyed(publisher, (const uint8_t *)payload, (size_t)len, (const uint8_t *)key,
                                  (size_t)key_len, 0, NULL)) != RB_OK)
            return die("publish", s);
        sum += (unsigned long long)i;
        if (rate > 0 && (i + 1) % 100 == 0) {
            /* 100 readings, then a pause of 100/rate seconds. */
            long ns = 100L * 1000000000L / rate;
            struct timespec pause = {ns / 1000000000L, ns % 1000000000L};
            nanosleep(&pause, NULL);
        }
    }
    if ((s = rb_topic_flush(topic, -1)) != RB_OK) return die("flush", s);
    printf("published %ld readings, checksum %llu\n", n, sum);
    rb_publisher_free(publisher);
    rb_topic_free(topic);
    rb_bus_free(bus);
    rb_config_free(config);
    return 0;
}
