// The client's slow path: init and shutdown, the string registry, ring claim and release,
// fork handling, and the out-of-line pieces of Span that are not per-span costs (events,
// links, status). The per-span hot path is in detail/ring_writer.hpp and tracer.hpp.
#include "spanring/tracer.hpp"

#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <deque>

#include "spanring/shm/clock.hpp"
#include "spanring/shm/layout.hpp"
#include "spanring/shm/segment.hpp"
#include "spanring/shm/text.hpp"

namespace spanring {
namespace {

// The kernel's current clocksource (detail::kernel_clocksource: reported, not a decision).
constexpr const char* kClocksourcePath = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

// ---------------------------------------------------------------------------------------------
// Process-wide state. `mu` guards everything here; the hot path never takes it.
struct Global {
  std::mutex mu;
  bool enabled = false;
  std::uint32_t generation = 0;  // inits in this process: names later segments uniquely
  shm::Mapping mapping;
  shm::SegmentHeader* header = nullptr;
  shm::RingHeader* rings = nullptr;
  shm::Record* records = nullptr;
  shm::StringTable* table = nullptr;
  std::uint32_t ring_count = 0;
  std::uint32_t capacity = 0;
  // The string registry outlives segments: ids are process-wide, and a new segment gets
  // every string registered so far, so a Key made before init (or before a fork) stays valid.
  std::deque<std::string> texts;  // deque: references stay valid as it grows
  std::unordered_map<std::string_view, std::uint16_t> ids;
  // Bytes the registry's entries take in a string table (2 + length each), kept within
  // kStringTableBytes whether or not a segment exists, so every id fits any new segment.
  std::uint32_t registry_bytes = 0;
  std::uint32_t table_bytes = 0;  // bytes used in the current segment's table
  bool atfork_registered = false;
  std::string clocksource_path = kClocksourcePath;  // tests may point it elsewhere
};

Global& global() {
  static Global* g = new Global;  // never destroyed: threads may end spans during exit
  return *g;
}

using shm::clock_ns;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::uint32_t current_tid() { return static_cast<std::uint32_t>(::syscall(SYS_gettid)); }

bool thread_alive(std::uint32_t pid, std::uint32_t tid) {
  return ::syscall(SYS_tgkill, pid, tid, 0) == 0 || errno != ESRCH;
}

// ---------------------------------------------------------------------------------------------
// String table: copy one registry entry into the segment (mu held). The registry's byte
// budget guarantees it fits, so ids stay dense and every registered ref resolves.
void publish_string(Global& g, std::uint32_t id) {
  const std::string& s = g.texts[id];
  const std::uint16_t n = static_cast<std::uint16_t>(s.size());
  std::memcpy(g.table->bytes + g.table_bytes, &n, 2);
  std::memcpy(g.table->bytes + g.table_bytes + 2, s.data(), n);
  g.table->offsets[id] = g.table_bytes;
  g.table_bytes += 2 + n;
  // release: the entry's bytes and offset are visible before the count that admits them.
  g.table->count.store(id + 1, std::memory_order_release);
}

std::uint16_t intern_locked(Global& g, std::string_view text) {
  if (text.empty() || text.size() > shm::kMaxStringLength) return 0;
  if (auto it = g.ids.find(text); it != g.ids.end()) return it->second;
  const std::size_t cost = 2 + text.size();
  if (g.texts.size() >= shm::kStringTableEntries || g.registry_bytes + cost > shm::kStringTableBytes) {
    // Table full: the Key sends its text inline. Enforced before init too: an id handed out
    // then must fit the segment init makes, or spans using it would carry an unknown id.
    if (g.header) g.header->strings_interned_failed.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const auto id = static_cast<std::uint32_t>(g.texts.size());
  g.texts.emplace_back(text);
  g.registry_bytes += static_cast<std::uint32_t>(cost);
  if (g.table) publish_string(g, id);
  const std::uint16_t ref = static_cast<std::uint16_t>(shm::kStrInterned | id);
  g.ids.emplace(g.texts.back(), ref);
  return ref;
}

// ---------------------------------------------------------------------------------------------
// Clock

// The TSC is used wherever the CPU calls it invariant, whatever clocksource the kernel chose:
// a kernel in a VM (kvm-clock, tsc=unstable) distrusts it because a snapshot restore or a live
// migration can make it jump, and the agent detects and handles such jumps with anchors of its
// own (shm/clock.hpp), while every span here saves a clock_gettime (~27 ns through kvm-clock
// against ~11 for rdtsc).
bool tsc_usable() { return detail::cpu_has_invariant_tsc(); }

// ---------------------------------------------------------------------------------------------
// Settings from the environment

// OTEL_RESOURCE_ATTRIBUTES: "k1=v1,k2=v2", percent-encoded; on any error the whole variable is
// discarded (OpenTelemetry's rule).
std::vector<std::pair<std::string, std::string>> env_resource(std::string& warning) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string v = env("OTEL_RESOURCE_ATTRIBUTES");
  std::size_t start = 0;
  while (start < v.size()) {
    std::size_t end = v.find(',', start);
    if (end == std::string::npos) end = v.size();
    std::string_view item(v.data() + start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      const auto eq = item.find('=');
      std::optional<std::string> k, val;
      if (eq != std::string_view::npos && eq != 0) {
        k = shm::percent_decode(item.substr(0, eq));
        val = shm::percent_decode(item.substr(eq + 1));
      }
      if (!k || !val) {
        warning = "OTEL_RESOURCE_ATTRIBUTES ignored: cannot decode '" + std::string(item) + "'";
        return {};
      }
      out.emplace_back(std::move(*k), std::move(*val));
    }
    start = end + 1;
  }
  return out;
}

// A group name or a numeric gid, as SPANRING_SHM_GROUP / Options::group give it. False with
// the reason when no such group exists (a number is taken as given: root may use any gid).
bool resolve_group(const std::string& text, std::uint32_t& gid, std::string& why) {
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || v >= 0xffffffffull) {  // (gid_t)-1 means "unchanged" to fchown
      why = "not a valid gid";
      return false;
    }
    gid = static_cast<std::uint32_t>(v);
    return true;
  }
  const long hint = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  group entry{};
  group* found = nullptr;
  int err;
  while ((err = ::getgrnam_r(text.c_str(), &entry, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1u << 22))
    buf.resize(buf.size() * 2);
  if (found == nullptr) {
    why = err != 0 ? std::string("cannot look the group up: ") + std::strerror(err) : std::string("no such group");
    return false;
  }
  gid = static_cast<std::uint32_t>(entry.gr_gid);
  return true;
}

std::string executable_name() {
  std::ifstream f("/proc/self/comm");
  std::string name;
  std::getline(f, name);
  return name;
}

// How to get mode 0660: the option when the code set it (it wins over the variable), else the variable.
std::string_view group_write_fix(const Options& options) {
  return options.access ? "Options::access=Access::kGroupWrite" : "SPANRING_SHM_MODE=0660";
}

std::string access_warning(const std::string& segment, const Options& options) {
  return "/dev/shm/" + segment +
         " is owned by root with mode 0600, so an agent running as another user cannot drain it; set " +
         std::string(group_write_fix(options)) +
         " SPANRING_SHM_GROUP=spanring (the agent's group), or run the agent as root";
}

InitStatus fail(InitCode code, std::string message) {
  InitStatus s;
  s.code = code;
  s.message = "spanring: " + std::move(message);
  return s;
}

void encode_resource(shm::SegmentHeader& h, const std::vector<std::pair<std::string, std::string>>& attrs) {
  std::uint32_t used = 0, count = 0;
  for (const auto& [k, v] : attrs) {
    const std::size_t need = 4 + k.size() + v.size();
    if (k.size() > shm::kMaxStringLength || v.size() > shm::kMaxStringLength || used + need > shm::kResourceBytes)
      continue;  // does not fit: left out rather than cut (a cut value would be wrong)
    const auto kl = static_cast<std::uint16_t>(k.size()), vl = static_cast<std::uint16_t>(v.size());
    std::memcpy(h.resource + used, &kl, 2);
    std::memcpy(h.resource + used + 2, k.data(), kl);
    std::memcpy(h.resource + used + 2 + kl, &vl, 2);
    std::memcpy(h.resource + used + 4 + kl, v.data(), vl);
    used += static_cast<std::uint32_t>(need);
    ++count;
  }
  h.resource_count = count;
  h.resource_bytes_used = used;
}

// ---------------------------------------------------------------------------------------------
// fork: the child must never write into its parent's rings.

void atfork_prepare() { global().mu.lock(); }
void atfork_parent() { global().mu.unlock(); }
void atfork_child() {
  Global& g = global();
  g.mu.unlock();
  g.enabled = false;
  // The child's copy of the parent's mapping stays mapped (it is still the parent's
  // segment); we only forget it, and leak the handle so no destructor unmaps under a thread.
  g.mapping.leak();
  g.header = nullptr;
  g.rings = nullptr;
  g.records = nullptr;
  g.table = nullptr;
  g.table_bytes = 0;
  // The forking thread's ThreadRing still points into the parent's ring; the epoch bump sends
  // it to resolve_thread_ring, which sees the pid change and drops the claim without touching it.
  detail::g_epoch.fetch_add(1, std::memory_order_release);
}

void on_exit_mark_closed() {
  Global& g = global();
  std::lock_guard lock(g.mu);
  if (g.enabled && g.header) g.header->closed.store(1, std::memory_order_release);
}

// Releases the thread's ring when the thread exits.
struct RingReleaser {
  bool armed = false;
  ~RingReleaser();
};
thread_local RingReleaser t_releaser;

void release_ring(detail::ThreadRing& t) {
  Global& g = global();
  // Only a ring of the current segment is handed back: a claim in a segment from an earlier
  // init (or the parent's, after fork) is simply forgotten.
  const bool current = t.ring != nullptr && g.rings != nullptr && t.ring >= g.rings && t.ring < g.rings + g.ring_count;
  if (current && t.pid == static_cast<std::uint32_t>(::getpid())) {
    std::uint32_t expected = t.tid;
    // release: our writes to head and the records happen-before the next owner's claim.
    if (t.ring->owner_tid.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed))
      g.header->ring_release_generation.fetch_add(1, std::memory_order_release);
  }
  t.ring = nullptr;
  t.records = nullptr;
}

RingReleaser::~RingReleaser() {
  if (!armed) return;
  detail::ThreadRing& t = detail::t_ring;
  std::lock_guard lock(global().mu);
  release_ring(t);
  t.active = false;
  // Leave epoch matching so spans from later TLS destructors stay no-ops instead of
  // re-claiming a ring this exiting thread could never release.
  t.epoch = detail::g_epoch.load(std::memory_order_relaxed);
}

// Claims a free ring, or one whose owner thread has died (mu held).
bool claim_ring(Global& g, detail::ThreadRing& t) {
  for (int pass = 0; pass < 2; ++pass) {
    for (std::uint32_t r = 0; r < g.ring_count; ++r) {
      shm::RingHeader& ring = g.rings[r];
      std::uint32_t owner = ring.owner_tid.load(std::memory_order_relaxed);
      if (pass == 0 ? owner != 0 : (owner == 0 || thread_alive(g.header->producer_pid, owner))) continue;
      // acquire: we see head as the previous owner published it.
      if (!ring.owner_tid.compare_exchange_strong(owner, t.tid, std::memory_order_acquire, std::memory_order_relaxed))
        continue;
      t.ring = &ring;
      t.records = g.records + std::uint64_t(r) * g.capacity;
      t.head = ring.head.load(std::memory_order_relaxed);
      t.cached_tail = ring.tail.load(std::memory_order_acquire);
      t.written = ring.spans_written.load(std::memory_order_relaxed);
      t.mask = g.capacity - 1;
      return true;
    }
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Cold paths called from the hot path

namespace detail {

void resolve_thread_ring(ThreadRing& t) noexcept {
  Global& g = global();
  std::lock_guard lock(g.mu);
  const std::uint32_t epoch = g_epoch.load(std::memory_order_acquire);
  const auto pid = static_cast<std::uint32_t>(::getpid());
  if (t.pid != pid) {
    // New thread, or the first span in a forked child: the inherited claim is the parent's,
    // so it is forgotten, not released; and the RNG state is reseeded so parent and child
    // never generate the same ids.
    t.ring = nullptr;
    t.records = nullptr;
    t.pid = pid;
    t.tid = current_tid();
    std::uint64_t seed = 0;
    if (::getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = clock_ns(CLOCK_MONOTONIC) ^ (std::uint64_t(t.tid) << 32);
    t.rng = seed;
  } else {
    release_ring(t);  // a claim in a segment from an earlier init
  }
  t.epoch = epoch;
  t.active = g.enabled;
  t.header = g.enabled ? g.header : nullptr;
  t.drops_since_claim = 0;
  if (!g.enabled) return;
  t_releaser.armed = true;
  if (!claim_ring(g, t)) t.release_generation = g.header->ring_release_generation.load(std::memory_order_acquire);
}

void count_ring_full(ThreadRing& t) noexcept {
  // Single writer (the ring's owner): load + store, no locked instruction.
  t.ring->spans_dropped_full.store(t.ring->spans_dropped_full.load(std::memory_order_relaxed) + 1,
                                   std::memory_order_relaxed);
}

void count_no_ring(ThreadRing& t) noexcept {
  // No lock: the thread must never block here. t.header belongs to the segment of t.epoch;
  // counting only while that epoch is current keeps a span ended after shutdown() or a
  // re-init out of the wrong segment (its mapping is leaked, never unmapped, so a shutdown
  // racing past this check costs at most one count in the closed segment). acquire pairs with
  // the release bump of g_epoch.
  if (t.header == nullptr || t.epoch != g_epoch.load(std::memory_order_acquire)) return;
  t.header->spans_dropped_no_ring.fetch_add(1, std::memory_order_relaxed);
  // Retry the claim when some thread released a ring, and every 256 drops in case an owner
  // died without releasing (that check costs a syscall per ring). The claim needs mu; when
  // another thread holds it, skip this retry rather than wait: the next drop tries again.
  const std::uint64_t gen = t.header->ring_release_generation.load(std::memory_order_acquire);
  if (gen == t.release_generation && ++t.drops_since_claim < 256) return;
  Global& g = global();
  std::unique_lock lock(g.mu, std::try_to_lock);
  if (!lock.owns_lock()) return;
  if (!g.enabled || t.epoch != g_epoch.load(std::memory_order_acquire)) return;  // raced a shutdown
  t.drops_since_claim = 0;
  t.release_generation = gen;
  claim_ring(g, t);
}

std::uint64_t monotonic_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }

bool cpu_has_invariant_tsc() noexcept { return shm::cpu_has_invariant_tsc(); }
bool using_tsc() noexcept { return g_use_tsc.load(std::memory_order_relaxed); }

std::string kernel_clocksource() {
  std::string path;
  {
    Global& g = global();
    std::lock_guard lock(g.mu);
    path = g.clocksource_path;
  }
  std::ifstream f(path);
  std::string source;
  return f >> source ? source : std::string();
}

void set_clocksource_path_for_testing(const char* path) {
  Global& g = global();
  std::lock_guard lock(g.mu);
  g.clocksource_path = path != nullptr ? path : kClocksourcePath;
}

void note_traceparent_invalid() noexcept {
  Global& g = global();
  std::lock_guard lock(g.mu);
  if (g.enabled) g.header->traceparent_invalid.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Public slow-path API

InitStatus init(const Options& options) {
  Global& g = global();
  std::lock_guard lock(g.mu);
  if (g.enabled) return fail(InitCode::kAlreadyInitialized, "already initialised as " + g.mapping.name());
  {
    std::string d = env("OTEL_SDK_DISABLED");
    for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (d == "true") return fail(InitCode::kDisabled, "OTEL_SDK_DISABLED=true: tracing disabled");
  }
  if (!g.atfork_registered) {
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    std::atexit(on_exit_mark_closed);
    g.atfork_registered = true;
  }

  std::string warning;
  std::vector<std::pair<std::string, std::string>> resource = env_resource(warning);
  // Code-provided attributes win over the environment's (OpenTelemetry resource merge).
  for (const auto& kv : options.resource_attributes) {
    bool replaced = false;
    for (auto& existing : resource)
      if (existing.first == kv.first) existing.second = kv.second, replaced = true;
    if (!replaced) resource.push_back(kv);
  }
  std::string service = options.service_name;
  if (service.empty()) service = env("OTEL_SERVICE_NAME");
  if (service.empty())
    for (const auto& [k, v] : resource)
      if (k == "service.name") service = v;
  if (service.empty()) service = "unknown_service:" + executable_name();
  std::erase_if(resource, [](const auto& kv) { return kv.first == "service.name"; });
  if (service.size() > shm::kServiceNameMax)
    return fail(InitCode::kNameTooLong, "service name is " + std::to_string(service.size()) + " bytes, at most " +
                                            std::to_string(shm::kServiceNameMax) + " allowed");

  std::uint64_t size = options.shm_size;
  if (size == 0) {
    const std::string s = env("SPANRING_SHM_SIZE");
    if (!s.empty()) {
      const auto parsed = shm::parse_size(s);
      if (!parsed)
        return fail(InitCode::kInvalidArgument,
                    "SPANRING_SHM_SIZE='" + s + "' is not a size (bytes, or with K/KiB/M/MiB/G/GiB = 1024^n, KB/MB/GB = 1000^n)");
      size = *parsed;
    }
  }
  if (size == 0) size = shm::kDefaultSegmentSize;
  std::uint32_t rings = options.rings;
  if (rings == 0) {
    const std::string s = env("SPANRING_RINGS");
    if (!s.empty()) {
      const std::uint64_t r = shm::parse_size(s).value_or(0);
      if (r == 0 || r > shm::kMaxRingCount)
        return fail(InitCode::kInvalidArgument, "SPANRING_RINGS='" + s + "' must be 1.." + std::to_string(shm::kMaxRingCount));
      rings = static_cast<std::uint32_t>(r);
    }
  }
  const shm::Layout layout = shm::layout_within(size, rings);
  if (layout.ring_count == 0)
    return fail(InitCode::kInvalidArgument, "segment size " + std::to_string(size) + " bytes cannot hold " +
                                                (rings ? std::to_string(rings) : std::string("one")) +
                                                " ring(s) of at least " + std::to_string(shm::kMinRingCapacity) + " records");

  // Each setting: the option when set, else its variable, else the default (tracer.hpp, above
  // Options).
  std::uint32_t mode = 0600;
  if (options.access) {
    mode = *options.access == Access::kGroupWrite ? 0660 : 0600;
  } else if (const std::string m = env("SPANRING_SHM_MODE"); !m.empty()) {
    if (m == "0600" || m == "600") mode = 0600;
    else if (m == "0660" || m == "660") mode = 0660;
    else if (m == "0640" || m == "640")
      return fail(InitCode::kInvalidArgument, "SPANRING_SHM_MODE='" + m +
                                                  "' is not allowed: the agent must write the ring tails, so use 0600 "
                                                  "(agent as the same user) or 0660 (agent in the engine's group)");
    else return fail(InitCode::kInvalidArgument, "SPANRING_SHM_MODE='" + m + "' must be 0600 or 0660");
  }
  std::optional<std::uint32_t> group;
  std::string group_setting;  // "Options::group='x'" or "SPANRING_SHM_GROUP='x'", for messages
  {
    std::string text = options.group;
    const char* source = "Options::group";
    if (text.empty()) {
      text = env("SPANRING_SHM_GROUP");
      source = "SPANRING_SHM_GROUP";
    }
    if (!text.empty()) {
      group_setting = std::string(source) + "='" + text + "'";
      std::uint32_t gid = 0;
      std::string why;
      if (!resolve_group(text, gid, why))
        return fail(InitCode::kInvalidArgument, group_setting + ": " + why + " (give a group name or a numeric gid)");
      group = gid;
    }
  }
  bool use_tsc = true;
  if (options.prefer_tsc) {
    use_tsc = *options.prefer_tsc;
  } else if (const std::string c = env("SPANRING_CLOCK"); c == "monotonic") {
    use_tsc = false;
  } else if (!c.empty() && c != "tsc") {
    return fail(InitCode::kInvalidArgument, "SPANRING_CLOCK='" + c + "' must be tsc or monotonic");
  }
  use_tsc = use_tsc && tsc_usable();

  const auto pid = static_cast<std::uint32_t>(::getpid());
  shm::CreateOptions co;
  co.name = shm::segment_name(service, pid, g.generation);
  co.layout = layout;
  co.mode = mode;
  co.group = group;
  shm::Mapping mapping;
  std::string message;
  switch (shm::create_segment(co, mapping, message)) {
    case shm::SegmentError::kOk: break;
    case shm::SegmentError::kExists: return fail(InitCode::kSegmentExists, message);
    case shm::SegmentError::kPermission: return fail(InitCode::kPermissionDenied, message);
    case shm::SegmentError::kGroupDenied:
      return fail(InitCode::kPermissionDenied, group_setting + ": " + message +
                                                   " (the engine's user must be a member of that group, or root)");
    case shm::SegmentError::kNoSpace: return fail(InitCode::kNoSpace, message);
    case shm::SegmentError::kNameInvalid: return fail(InitCode::kNameTooLong, message);
    case shm::SegmentError::kSizeInvalid: return fail(InitCode::kInvalidArgument, message);
    default: return fail(InitCode::kUnavailable, message);
  }
  ++g.generation;

  auto& h = *mapping.header();
  h.magic = shm::kMagic;
  h.abi_major = shm::kAbiMajor;
  h.abi_minor = shm::kAbiMinor;
  h.header_size = shm::kHeaderSize;
  h.segment_size = layout.segment_size;
  h.record_size = shm::kRecordSize;
  h.ring_count = layout.ring_count;
  h.ring_capacity = layout.ring_capacity;
  h.string_table_offset = layout.string_table_offset;
  h.rings_offset = layout.rings_offset;
  h.ring_data_offset = layout.ring_data_offset;
  h.producer_pid = pid;
  h.producer_start_time = shm::process_start_time(pid);
  h.created_unix_ns = clock_ns(CLOCK_REALTIME);
  h.service_name_length = static_cast<std::uint32_t>(service.size());
  std::memcpy(h.service_name, service.data(), service.size());
  encode_resource(h, resource);
  shm::take_clock_anchor(h, use_tsc ? shm::kClockTsc : shm::kClockMonotonic);

  g.mapping = std::move(mapping);
  g.header = g.mapping.header();
  g.table = reinterpret_cast<shm::StringTable*>(g.mapping.data() + layout.string_table_offset);
  g.rings = reinterpret_cast<shm::RingHeader*>(g.mapping.data() + layout.rings_offset);
  g.records = reinterpret_cast<shm::Record*>(g.mapping.data() + layout.ring_data_offset);
  g.ring_count = layout.ring_count;
  g.capacity = layout.ring_capacity;
  g.table_bytes = 0;
  for (std::uint32_t id = 0; id < g.texts.size(); ++id) publish_string(g, id);
  // release: every field above is visible to a reader that sees ready == 1.
  g.header->ready.store(1, std::memory_order_release);

  detail::g_use_tsc.store(use_tsc, std::memory_order_relaxed);
  g.enabled = true;
  // release pairs with the acquire in resolve_thread_ring: threads see the new state.
  detail::g_epoch.fetch_add(1, std::memory_order_release);

  auto warn = [&warning](const std::string& w) { warning += (warning.empty() ? "" : "; ") + w; };
  if (mode == 0600 && ::geteuid() == 0) {
    // Owned by root, readable by root only: an agent running as any other user (the systemd
    // unit runs it as `spanring`) can never attach, and nothing would say why. One line on
    // stderr, not in the status: a successful init's message stays as callers expect it, and
    // engines often log the message only on failure.
    std::fprintf(stderr, "spanring: warning: %s\n", access_warning(g.mapping.name(), options).c_str());
  }
  if (mode == 0600 && group) {
    warn(group_setting + " has no effect with mode 0600: set " + std::string(group_write_fix(options)));
  }

  InitStatus ok;
  ok.segment = g.mapping.name();
  ok.message = warning;
  return ok;
}

void shutdown() {
  Global& g = global();
  std::lock_guard lock(g.mu);
  if (!g.enabled) return;
  g.header->closed.store(1, std::memory_order_release);
  g.enabled = false;
  // Threads may be inside commit_span right now: the memory stays mapped (leaked) so they
  // finish harmlessly; they notice the new epoch on their next span.
  g.mapping.leak();
  g.header = nullptr;
  g.rings = nullptr;
  g.records = nullptr;
  g.table = nullptr;
  detail::g_epoch.fetch_add(1, std::memory_order_release);
}

bool enabled() noexcept {
  Global& g = global();
  std::lock_guard lock(g.mu);
  return g.enabled;
}

std::string segment_name() {
  Global& g = global();
  std::lock_guard lock(g.mu);
  return g.enabled ? g.mapping.name() : std::string();
}

ClientCounters counters() noexcept {
  Global& g = global();
  std::lock_guard lock(g.mu);
  ClientCounters c;
  if (!g.enabled) return c;
  for (std::uint32_t r = 0; r < g.ring_count; ++r) {
    c.spans_written += g.rings[r].spans_written.load(std::memory_order_relaxed);
    c.spans_dropped_full += g.rings[r].spans_dropped_full.load(std::memory_order_relaxed);
  }
  c.spans_dropped_no_ring = g.header->spans_dropped_no_ring.load(std::memory_order_relaxed);
  c.traceparent_invalid = g.header->traceparent_invalid.load(std::memory_order_relaxed);
  return c;
}

Key::Key(std::string_view text) noexcept : text_(text) {
  Global& g = global();
  std::lock_guard lock(g.mu);
  try {
    ref_ = intern_locked(g, text);
  } catch (...) {
    ref_ = 0;  // out of memory while registering: the key stays inline
  }
}

Key intern(std::string_view text) noexcept {
  Global& g = global();
  std::lock_guard lock(g.mu);
  try {
    const std::uint16_t ref = intern_locked(g, text);
    if (ref != 0) return Key(g.texts[ref & 0x7fff], ref);  // registry-owned text
  } catch (...) {
  }
  return Key(std::string_view{}, 0);
}

// ---------------------------------------------------------------------------------------------
// Span: the parts that are not per-span costs

void Span::inherit(const SpanContext& parent) noexcept {
  if (!parent.valid()) {
    new_trace();
    return;
  }
  shm::SpanFixed& f = fixed();
  std::memcpy(f.trace_id, parent.trace_id.bytes, 16);
  std::memcpy(f.parent_span_id, parent.span_id.bytes, 8);
  f.trace_flags = parent.trace_flags & (kTraceFlagSampled | kTraceFlagRandom);
  f.span_flags = shm::span_flags_remote_parent(parent.is_remote);
  if (parent.trace_state_length != 0) trace_state_at_ = shm::encode_trace_state(buf_, used_, parent.trace_state_view());
}

void Span::add_event(const Key& name, const Attribute* attributes, std::size_t count, std::uint64_t time_unix_ns) noexcept {
  add_event<const Attribute*>(name, attributes, count, time_unix_ns);
}

void Span::add_event(const Key& name, std::initializer_list<Attribute> attributes) noexcept {
  add_event(name, attributes.begin(), attributes.size());
}

void Span::add_event(std::string_view name, std::initializer_list<Attribute> attributes) noexcept {
  add_event(Key::inline_text(name), attributes.begin(), attributes.size());
}

void Span::add_link(const SpanContext& linked, const Attribute* attributes, std::size_t count) noexcept {
  add_link<const Attribute*>(linked, attributes, count);
}

void Span::add_link(const SpanContext& linked, std::initializer_list<Attribute> attributes) noexcept {
  add_link(linked, attributes.begin(), attributes.size());
}

void Span::record_exception(std::string_view type, std::string_view message, std::string_view stacktrace) noexcept {
  static const Key kException("exception");
  static const Key kType("exception.type");
  static const Key kMessage("exception.message");
  static const Key kStacktrace("exception.stacktrace");
  if (!recording_) return;
  // A stack trace is often longer than the span has room for: it is cut (at a character
  // boundary) to what is left once the event's other parts and the status description are
  // counted, so type, message and status always come first.
  auto str_bytes = [](const Key& k, std::string_view text) -> std::size_t {
    return 2 + (k.ref() != 0 ? 0 : std::min<std::size_t>(text.size(), shm::kMaxStringLength));
  };
  const Key inline_type = Key::inline_text(type), inline_message = Key::inline_text(message);
  const std::size_t needed = 1 + 8 + str_bytes(kException, "exception") + 2 + 1 + str_bytes(kType, kType.text()) +
                             str_bytes(inline_type, type) + 1 + str_bytes(kMessage, kMessage.text()) +
                             str_bytes(inline_message, message) + 1 + str_bytes(kStacktrace, kStacktrace.text()) + 2 +
                             1 + str_bytes(inline_message, message);
  const std::size_t room = shm::kMaxSpanBytes > used_ + needed ? shm::kMaxSpanBytes - used_ - needed : 0;
  if (stacktrace.size() > room) stacktrace = stacktrace.substr(0, room == 0 ? 0 : shm::utf8_prefix(stacktrace, room));
  const Attribute attrs[] = {Attribute(kType, type), Attribute(kMessage, message), Attribute(kStacktrace, stacktrace)};
  add_event(kException, attrs, stacktrace.empty() ? 2 : 3);
  set_status(StatusCode::kError, message);
}

void Span::end_at_unix_ns(std::uint64_t unix_ns) noexcept {
  if (!recording_) return;
  recording_ = false;
  fixed().end_time = shm::explicit_time(unix_ns & ~shm::kTimeUnixNs);
  detail::commit_span(detail::thread_ring(), buf_, used_);
}

void Span::set_status(StatusCode code, std::string_view description) noexcept {
  if (recording_) shm::encode_status(buf_, used_, code, description);
}

SpanContext Span::context() const noexcept {
  SpanContext c;
  if (!recording_) return c;
  const shm::SpanFixed& f = fixed();
  std::memcpy(c.trace_id.bytes, f.trace_id, 16);
  std::memcpy(c.span_id.bytes, f.span_id, 8);
  c.trace_flags = f.trace_flags;
  if (trace_state_at_ != 0) {
    const std::string_view ts = shm::trace_state_text(buf_, trace_state_at_);
    if (ts.size() <= kMaxTraceStateLength) {
      std::memcpy(c.trace_state, ts.data(), ts.size());
      c.trace_state_length = static_cast<std::uint16_t>(ts.size());
    }
  }
  return c;
}

TraceId Span::trace_id() const noexcept {
  TraceId id;
  if (recording_) std::memcpy(id.bytes, fixed().trace_id, 16);
  return id;
}

SpanId Span::span_id() const noexcept {
  SpanId id;
  if (recording_) std::memcpy(id.bytes, fixed().span_id, 8);
  return id;
}

void Span::traceparent(char* out) const noexcept {
  SpanContext c;
  if (!recording_) {
    format_traceparent(c, out);  // all-zero ids: receivers treat it as invalid
    return;
  }
  std::memcpy(c.trace_id.bytes, fixed().trace_id, 16);
  std::memcpy(c.span_id.bytes, fixed().span_id, 8);
  c.trace_flags = fixed().trace_flags;
  format_traceparent(c, out);
}

bool current_ids_hex(char* trace_id_hex, char* span_id_hex) noexcept {
  const Span* s = detail::t_current;
  if (s == nullptr || !s->recording()) return false;
  to_hex(s->trace_id(), trace_id_hex);
  to_hex(s->span_id(), span_id_hex);
  return true;
}

}  // namespace spanring
