// The header compiles as C++17 and survives double inclusion; the C++ wrapper's poll paths
// keep C++ exceptions on the C++ side and lend views until the next poll.
#include <array>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "ringbus.h"
#include "ringbus.h"
#include "ringbus.hpp"

static int failures = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

int main() {
    CHECK(rb_version() == RB_VERSION);
    ringbus::bus bus;
    ringbus::topic topic = bus.create_topic("cpp");
    ringbus::subscription each = topic.subscribe();
    ringbus::subscription viewer = topic.subscribe();
    ringbus::publisher p = topic.make_publisher();
    for (const char *word : {"one", "two", "three"}) p.publish(word);

    // A callback that throws on the second event: the exception reaches the caller, and the
    // batch stops after that event.
    size_t calls = 0;
    bool caught = false;
    try {
        each.poll_each(10, 0, [&](const rb_event_view &) {
            if (++calls == 2) throw std::runtime_error("consumer failed");
        });
    } catch (const std::runtime_error &e) {
        caught = std::strcmp(e.what(), "consumer failed") == 0;
    }
    CHECK(caught && calls == 2);
    std::string rest;
    CHECK(each.poll_each(10, 0, [&](const rb_event_view &e) {
        rest.assign(reinterpret_cast<const char *>(e.payload.data), e.payload.len);
    }) == 1);
    CHECK(rest == "three");

    std::array<rb_event_view, 8> views{};
    CHECK(viewer.poll_views(views.data(), views.size(), 0) == 3);
    CHECK(views[2].payload.len == 5 && std::memcmp(views[2].payload.data, "three", 5) == 0);
    CHECK(viewer.poll_views(views.data(), views.size(), 0) == 0);
    bool invalid = false;
    try {
        viewer.poll_views(views.data(), 0, 0);
    } catch (const ringbus::error &e) {
        invalid = e.status() == RB_ERR_INVALID_ARG;
    }
    CHECK(invalid);

    // A memory topic's ticket is complete at once.
    ringbus::ticket t = p.publish_ticket("four", "k");
    CHECK(t.durable() && t.wait(0) && t.offset() > 0);
    std::string metrics = bus.metrics();
    CHECK(metrics.find("ringbus_topics 1\n") != std::string::npos);
    CHECK(metrics.find("ringbus_published_total{topic=\"cpp\",partition=\"0\"} 4\n") != std::string::npos);
    if (failures != 0) return 1;
    std::printf("header_cpp: ok\n");
    return 0;
}
