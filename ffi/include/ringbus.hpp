// ringbus.hpp: a small header-only C++17 wrapper over the C API in ringbus.h. Handles are
// RAII objects (move-only); failed calls throw ringbus::error with the status and the message.
#ifndef RINGBUS_HPP
#define RINGBUS_HPP

#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ringbus.h"

namespace ringbus {

/// A failed ringbus call: `status()` is the RB_* code, `what()` the message.
class error : public std::runtime_error {
public:
    error(rb_status status, const char *message) : std::runtime_error(message), status_(status) {}
    rb_status status() const noexcept { return status_; }

private:
    rb_status status_;
};

/// Throws unless `status` is RB_OK.
inline void check(rb_status status) {
    if (status != RB_OK) {
        throw error(status, rb_last_error_message());
    }
}

/// String key/value settings (see rb_config_set).
class config {
public:
    config() { check(rb_config_new(&raw_)); }
    config &set(const std::string &key, const std::string &value) {
        check(rb_config_set(raw_, key.c_str(), value.c_str()));
        return *this;
    }
    const rb_config *get() const noexcept { return raw_; }
    config(const config &) = delete;
    config &operator=(const config &) = delete;
    ~config() { rb_config_free(raw_); }

private:
    rb_config *raw_ = nullptr;
};

/// A fanout subscription or group member; one thread at a time.
class subscription {
public:
    explicit subscription(rb_subscription *raw) : raw_(raw) {}
    /// Calls `f(const rb_event_view &)` for up to `max` events (borrowed for the call); returns
    /// how many, 0 on timeout; throws on other errors (RB_ERR_CLOSED when drained). An
    /// exception from `f` stops the batch (the events before it count as read) and is
    /// rethrown here; it never crosses the C library.
    template <typename F>
    size_t poll_each(size_t max, int32_t timeout_ms, F &&f) {
        struct context {
            F &f;
            std::exception_ptr thrown;
        } ctx{f, nullptr};
        auto trampoline = [](void *user, const rb_event_view *event) -> int32_t {
            auto *c = static_cast<context *>(user);
            try {
                c->f(*event);
                return 0;
            } catch (...) {
                c->thrown = std::current_exception();
                return 1;
            }
        };
        size_t n = 0;
        rb_status s = rb_poll_each(raw_.get(), max, timeout_ms, trampoline, &ctx, &n);
        if (ctx.thrown) {
            std::rethrow_exception(ctx.thrown);
        }
        if (s == RB_ERR_TIMED_OUT) {
            return 0;
        }
        check(s);
        return n;
    }
    /// Fills `views[0..n)` with up to `max` events and returns `n` (0 on timeout); the views
    /// borrow from this subscription until its next poll or commit (see rb_poll_views).
    size_t poll_views(rb_event_view *views, size_t max, int32_t timeout_ms) {
        size_t n = 0;
        rb_status s = rb_poll_views(raw_.get(), views, max, timeout_ms, &n);
        if (s == RB_ERR_TIMED_OUT) {
            return 0;
        }
        check(s);
        return n;
    }
    void commit() { check(rb_commit(raw_.get())); }

private:
    struct deleter {
        void operator()(rb_subscription *s) const noexcept { rb_subscription_free(s); }
    };
    std::unique_ptr<rb_subscription, deleter> raw_;
};

/// A durability ticket (see rb_publish_ticket): complete once the fsync covering its event
/// has completed. Destroying it loses nothing.
class ticket {
public:
    explicit ticket(rb_ticket *raw, uint64_t offset) : raw_(raw), offset_(offset) {}
    /// The event's offset.
    uint64_t offset() const noexcept { return offset_; }
    /// Waits up to `timeout_ms` (< 0: no limit); false if the time passed first; throws
    /// ringbus::error (RB_ERR_POISONED) if the log failed before covering the event.
    bool wait(int32_t timeout_ms = -1) const {
        rb_status s = rb_ticket_wait(raw_.get(), timeout_ms);
        if (s == RB_ERR_TIMED_OUT) return false;
        check(s);
        return true;
    }
    /// Whether the event is durable now; throws if it never will be.
    bool durable() const {
        rb_status s = rb_ticket_is_durable(raw_.get());
        if (s == RB_ERR_WOULD_BLOCK) return false;
        check(s);
        return true;
    }

private:
    struct deleter {
        void operator()(rb_ticket *t) const noexcept { rb_ticket_free(t); }
    };
    std::unique_ptr<rb_ticket, deleter> raw_;
    uint64_t offset_;
};

/// A publisher: one per producing thread.
class publisher {
public:
    explicit publisher(rb_publisher *raw) : raw_(raw) {}
    uint64_t publish(std::string_view payload, std::string_view key = {}, uint64_t timestamp_ns = 0) {
        uint64_t offset = 0;
        check(rb_publish_keyed(raw_.get(), reinterpret_cast<const uint8_t *>(payload.data()), payload.size(),
                               reinterpret_cast<const uint8_t *>(key.data()), key.size(), timestamp_ns, &offset));
        return offset;
    }
    /// Publishes without waiting for the fsync; the ticket says when it is durable.
    ticket publish_ticket(std::string_view payload, std::string_view key = {}) {
        uint64_t offset = 0;
        rb_ticket *t = nullptr;
        check(rb_publish_ticket(raw_.get(), reinterpret_cast<const uint8_t *>(payload.data()), payload.size(),
                                reinterpret_cast<const uint8_t *>(key.data()), key.size(), &offset, &t));
        return ticket(t, offset);
    }

private:
    struct deleter {
        void operator()(rb_publisher *p) const noexcept { rb_publisher_free(p); }
    };
    std::unique_ptr<rb_publisher, deleter> raw_;
};

/// A topic handle (thread-safe).
class topic {
public:
    explicit topic(rb_topic *raw) : raw_(raw) {}
    publisher make_publisher() const {
        rb_publisher *p = nullptr;
        check(rb_publisher_new(raw_.get(), &p));
        return publisher(p);
    }
    subscription subscribe(rb_start start = RB_START_EARLIEST, uint64_t value = 0,
                           rb_policy policy = RB_POLICY_BLOCK) const {
        rb_subscription *s = nullptr;
        check(rb_subscribe(raw_.get(), start, value, policy, &s));
        return subscription(s);
    }
    subscription join_group(const std::string &group, rb_start start = RB_START_EARLIEST) const {
        rb_subscription *s = nullptr;
        check(rb_group_join(raw_.get(), group.c_str(), start, 0, &s));
        return subscription(s);
    }
    rb_topic_stats stats() const {
        rb_topic_stats s{};
        check(rb_topic_get_stats(raw_.get(), &s));
        return s;
    }

private:
    struct deleter {
        void operator()(rb_topic *t) const noexcept { rb_topic_free(t); }
    };
    std::unique_ptr<rb_topic, deleter> raw_;
};

/// The bus (thread-safe). Destroying it closes its topics.
class bus {
public:
    bus() { check(rb_bus_open(nullptr, &raw_)); }
    explicit bus(const config &c) { check(rb_bus_open(c.get(), &raw_)); }
    ~bus() { rb_bus_free(raw_); }
    bus(const bus &) = delete;
    bus &operator=(const bus &) = delete;
    /// Creates topic `name` with the settings of `c` (defaults without).
    topic create_topic(const std::string &name, const config *c = nullptr) const {
        rb_topic *t = nullptr;
        check(rb_topic_create(raw_, name.c_str(), c ? c->get() : nullptr, &t));
        return topic(t);
    }
    /// Opens the existing topic `name`.
    topic open_topic(const std::string &name) const {
        rb_topic *t = nullptr;
        check(rb_topic_open(raw_, name.c_str(), &t));
        return topic(t);
    }
    void close() const { check(rb_bus_close(raw_)); }
    /// Every counter in the OpenMetrics text format (see rb_bus_metrics).
    std::string metrics() const {
        size_t len = 0;
        rb_status s = rb_bus_metrics(raw_, nullptr, 0, &len);
        for (;;) {
            std::string text(len + 4096, '\0');
            s = rb_bus_metrics(raw_, text.data(), text.size(), &len);
            if (s == RB_OK) {
                text.resize(len);
                return text;
            }
            if (s != RB_ERR_INVALID_ARG) check(s); // grown since the last call: try again
        }
    }

private:
    rb_bus *raw_ = nullptr;
};

}  // namespace ringbus

#endif
