// IoT ingest in C++ with the RAII wrapper: 2 sensor threads publish keyed readings into a
// 4-partition in-memory topic; 2 aggregator threads share them through a work-queue group and
// count readings per sensor; an archiver subscription sees every reading. Checks the totals.
// usage: ingest [readings per sensor thread]    prints: ingest: <n> readings, ... ok
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ringbus.hpp"

int main(int argc, char **argv) {
    const long per_thread = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100000;
    try {
        ringbus::bus bus;
        ringbus::config settings;
        settings.set("partitions", "4").set("capacity", "1048576").set("max_payload", "256");
        ringbus::topic readings = bus.create_topic("readings", &settings);

        ringbus::subscription archiver = readings.subscribe();
        std::vector<ringbus::subscription> members;
        for (int i = 0; i < 2; i++) members.push_back(readings.join_group("aggregators"));

        std::mutex lock;
        std::map<std::string, long> per_sensor;
        std::atomic<long> aggregated{0};
        std::vector<std::thread> threads;
        for (auto &m : members) {
            threads.emplace_back([&m, &lock, &per_sensor, &aggregated] {
                std::map<std::string, long> local;
                try {
                    for (;;) {
                        m.poll_each(256, 100, [&](const rb_event_view &e) {
                            local[std::string(reinterpret_cast<const char *>(e.key.data), e.key.len)]++;
                            aggregated++;
                        });
                    }
                } catch (const ringbus::error &e) {
                    if (e.status() != RB_ERR_CLOSED) throw;
                }
                std::lock_guard<std::mutex> g(lock);
                for (auto &kv : local) per_sensor[kv.first] += kv.second;
            });
        }
        long archived = 0;
        std::thread archive([&archiver, &archived] {
            try {
                for (;;) archiver.poll_each(1024, 100, [&](const rb_event_view &) { archived++; });
            } catch (const ringbus::error &e) {
                if (e.status() != RB_ERR_CLOSED) throw;
            }
        });
        std::vector<std::thread> sensors;
        for (int t = 0; t < 2; t++) {
            sensors.emplace_back([&readings, t, per_thread] {
                ringbus::publisher p = readings.make_publisher();
                for (long i = 0; i < per_thread; i++) {
                    std::string key = "sensor-" + std::to_string(t * 1000 + i % 50);
                    std::string payload = "{\"celsius\":" + std::to_string(15 + i % 10) + "}";
                    p.publish(payload, key);
                }
            });
        }
        for (auto &s : sensors) s.join();
        bus.close();
        for (auto &t : threads) t.join();
        archive.join();
        const long total = 2 * per_thread;
        long counted = 0;
        for (auto &kv : per_sensor) counted += kv.second;
        rb_topic_stats stats = readings.stats();
        std::printf("ingest: %ld readings, %zu sensors, aggregated %ld, archived %ld, published %llu\n", total,
                    per_sensor.size(), counted, archived, (unsigned long long)stats.published);
        if (counted != total || aggregated != total || archived != total || stats.published != (uint64_t)total ||
            per_sensor.size() != 100) {
            std::printf("ingest: MISMATCH\n");
            return 1;
        }
        std::printf("ingest: ok\n");
        return 0;
    } catch (const ringbus::error &e) {
        std::fprintf(stderr, "ingest: %s (status %d)\n", e.what(), e.status());
        return 1;
    }
}
