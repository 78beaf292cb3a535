/* IoT ingest, the archiving side: a durable group member reads every reading not yet
 * committed from the data directory, in batches, and commits.
 * usage: consumer <data dir>    prints: consumed <n> readings, checksum <sum> */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringbus.h"

static int die(const char *what, rb_status status) {
    fprintf(stderr, "consumer: %s: %s (%s)\n", what, rb_status_str(status), rb_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <data dir>\n", argv[0]);
        return 2;
    }
    rb_config *config = NULL;
    rb_status s = rb_config_new(&config);
    if (s == RB_OK) s = rb_config_set(config, "data_dir", argv[1]);
    if (s != RB_OK) return die("configuration", s);
    rb_bus *bus = NULL;
    if ((s = rb_bus_open(config, &bus)) != RB_OK) return die("opening the data directory", s);
    rb_topic *topic = NULL;
    if ((s = rb_topic_open(bus, "readings", &topic)) != RB_OK) return die("opening topic readings", s);
    rb_subscription *archiver = NULL;
    if ((s = rb_group_join(topic, "archive", RB_START_COMMITTED, 0, &archiver)) != RB_OK) return die("group", s);
    long n = 0;
    unsigned long long sum = 0;
    for (;;) {
        rb_batch *batch = NULL;
        s = rb_poll_batch(archiver, 512, 200, &batch);
        if (s == RB_ERR_TIMED_OUT) break; /* caught up */
        if (s != RB_OK) return die("poll", s);
        for (size_t i = 0; i < rb_batch_len(batch); i++) {
            rb_event_view event;
            if ((s = rb_batch_get(batch, i, &event)) != RB_OK) return die("batch", s);
            char text[128];
            size_t len = event.payload.len < sizeof text - 1 ? event.payload.len : sizeof text - 1;
            memcpy(text, event.payload.data, len);
            text[len] = 0;
            long seq = 0;
            if (sscanf(text, "{\"seq\":%ld", &seq) != 1) {
                fprintf(stderr, "consumer: unexpected payload %s\n", text);
                return 1;
            }
            sum += (unsigned long long)seq;
            n++;
        }
        rb_batch_free(batch);
    }
    if ((s = rb_commit(archiver)) != RB_OK) return die("commit", s);
    printf("consumed %ld readings, checksum %llu\n", n, sum);
    rb_subscription_free(archiver);
    rb_topic_free(topic);
    rb_bus_free(bus);
    rb_config_free(config);
    return 0;
}
