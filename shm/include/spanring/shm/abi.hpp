// spanring shared-memory ABI — the contract between an engine (producer) and the agent (reader).
//
// WHAT A SEGMENT IS
// Each engine process creates one segment, a POSIX shared-memory object under /dev/shm named
// "spanring.<service>.<pid>" (kSegmentPrefix). The engine writes finished spans into it; the
// agent maps it, drains it and, once the engine is gone and the segment empty, unlinks it.
// Because the data lives in the segment and not in the engine's heap, spans an engine finished
// before it crashed are still there for the agent to read.
//
//   offset 0                    header_size          rings_offset                  segment_size
//   +---------------------------+--------------------+------------------------------+
//   | SegmentHeader (4 KiB)     | StringTable        | RingHeader[ring_count]       |
//   |  identity, clock, counters|  interned names    | then ring_count data areas,  |
//   |  resource attributes      |  and keys          | capacity × record_size each  |
//   +---------------------------+--------------------+------------------------------+
//
// RINGS AND RECORDS
// A ring is single-producer / single-consumer. An engine thread claims a free ring on its first
// span (RingHeader::owner_tid) and releases it when it exits, so the producer side never
// contends. A finished span is encoded as a byte stream (SpanFixed followed by items, see
// below) and cut into one or more fixed-size records: the first of type kRecordSpan, the rest
// kRecordContinuation, contiguous in the ring (modulo capacity). The producer writes all of a
// span's records, then publishes them with one release store of RingHeader::head; the reader
// loads head with acquire, so it can never observe a torn record from a live producer.
//
//   producer (engine thread)                 reader (agent)
//   ------------------------                 --------------
//   t = cached tail; if head+n-t > cap:      h = head.load(acquire)       // pairs with ①
//       t = tail.load(acquire)   // ②        copy records [tail, h), validate each copy
//       still full -> drop, count            tail.store(new_tail, release) // ② pairs with this
//   write records head..head+n-1
//   head.store(head+n, release)  // ①
//
// A full ring drops the new span and counts it (spans_dropped_full); the producer never waits.
//
// PORTABILITY CONTRACT
// Fixed-width integer types only: no size_t, bool, pointers, or enums with implicit size.
// Everything is little-endian (x86-64 and AArch64 Linux). Every atomic is lock-free and exactly
// as large as its integer (static_asserts at the end). References inside the segment are byte
// offsets from the segment start, which the reader checks against the mapped size before use:
// the reader treats every byte of the segment as untrusted.
//
// VERSIONING
// kAbiMajor changes when a reader of the old version would misread a new segment; a reader
// refuses any other major. kAbiMinor changes when fields are only added (into reserved bytes);
// a reader accepts a newer minor. header_size and record_size are written into the header so a
// reader never assumes them.
//
// ABI 2.0 (array attributes, explicit Unix-ns times) is a MAJOR change, not a minor one: a 1.x
// reader rejects a span holding an item tag it does not know (kRejectBadTag — items carry no
// length, so an unknown one cannot be stepped over), and it would read an explicit time
// (kTimeUnixNs below) as a raw clock value 2^63 ticks in the future. Either way an old agent
// would drop or misdate the new spans instead of skipping what it does not understand, so a
// 1.x reader must refuse 2.x segments outright (it does: any other major is refused) rather
// than attach and lose spans one by one. A 2.x reader still reads 1.x segments (their bytes are
// a subset of 2.0's: kAbiMajorOldestReadable), so agents can be upgraded before engines.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace spanring::shm {

inline constexpr std::uint64_t kMagic = 0x31474e49524e5053ull;  // "SPNRING1" little-endian
inline constexpr std::uint16_t kAbiMajor = 2;
inline constexpr std::uint16_t kAbiMinor = 0;
// The oldest major this reader still attaches: 1.x segments are valid 2.0 segments that never
// use arrays or explicit times.
inline constexpr std::uint16_t kAbiMajorOldestReadable = 1;

inline constexpr char kSegmentPrefix[] = "spanring.";  // + service + "." + pid

inline constexpr std::uint32_t kHeaderSize = 4096;
inline constexpr std::uint32_t kRecordSize = 128;  // one span with ~4 attributes fits one record
inline constexpr std::uint32_t kRecordHeaderSize = 8;
inline constexpr std::uint32_t kRecordPayload = kRecordSize - kRecordHeaderSize;

inline constexpr std::uint32_t kServiceNameMax = 128;      // bytes, without NUL
inline constexpr std::uint32_t kResourceBytes = 2048;      // encoded resource attributes
inline constexpr std::uint32_t kStringTableEntries = 4096; // interned strings per segment
inline constexpr std::uint32_t kStringTableBytes = 64 * 1024;
inline constexpr std::uint32_t kMaxStringLength = 1024;    // bytes; longer strings are cut

// A span is at most this many bytes once encoded, so at most kMaxRecordsPerSpan records. The
// client truncates past it and reports what it cut in the dropped_* counts.
inline constexpr std::uint32_t kMaxSpanBytes = 1024;
inline constexpr std::uint32_t kMaxRecordsPerSpan =
    (kMaxSpanBytes + kRecordPayload - 1) / kRecordPayload;

// ---------------------------------------------------------------------------------------------
// Clock. The producer stores raw timestamps of the kind named by SegmentHeader::clock_source.
//   kClockTsc:       rdtsc ticks of the invariant TSC (constant rate, synchronised across cores).
//   kClockMonotonic: CLOCK_MONOTONIC nanoseconds (the fallback where the TSC is not invariant).
// Conversion to Unix ns is the reader's job: it interpolates between the producer's anchor
// (clock_anchor_tsc, clock_anchor_raw_ns), taken at segment creation, and a fresh anchor of its
// own, which is exact for any constant-rate TSC, then adds the current REALTIME-RAW offset.
// Nothing here changes after creation, so the producer needs no background thread or syscall.
//
// Explicit times (ABI 2.0): an engine that measured a time itself (a request's arrival, its
// first token) gives it as Unix ns. Such a time is stored with bit 63 set (kTimeUnixNs) and
// the reader takes the other 63 bits as Unix ns as they are, without clock conversion. Raw
// clock values never reach bit 63 (2^63 TSC ticks at 5 GHz is 58 years of uptime; 2^63
// MONOTONIC ns is 292 years) and Unix ns reach it in the year 2262, so the bit is free in
// both. It applies to SpanFixed::start_time / end_time and to an event's time, each on its own:
// a span may start at an explicit time and end at a raw one.
// Both halves of this contract, the anchor the producer takes and the conversion the reader
// does, are in clock.hpp / shm/src/clock.cpp.
inline constexpr std::uint64_t kTimeUnixNs = 1ull << 63;

enum ClockSource : std::uint32_t {
  kClockTsc = 1,
  kClockMonotonic = 2,
};

// ---------------------------------------------------------------------------------------------
// Drop reasons counted by the producer: kDropRingFull in RingHeader::spans_dropped_full (per
// ring), kDropNoRing in SegmentHeader::spans_dropped_no_ring (per process).
enum DropReason : std::uint32_t {
  kDropRingFull = 0,   // the thread's ring had no room; the span was not written
  kDropNoRing = 1,     // more live threads than rings; the thread had no ring
  kDropReasonCount = 2,
};

// ---------------------------------------------------------------------------------------------
// SegmentHeader: at offset 0. Written once by the producer before the segment's name is
// visible to anyone else (the segment is created exclusively and filled before `ready` is
// set), except for the atomic counters, which say who writes them.
struct SegmentHeader {
  // --- identity: producer writes at creation, never changes ----------------------------------
  std::uint64_t magic;             // kMagic; written last of the identity block, see `ready`
  std::uint16_t abi_major;         // kAbiMajor
  std::uint16_t abi_minor;         // kAbiMinor
  std::uint32_t header_size;       // bytes, kHeaderSize
  std::uint64_t segment_size;      // bytes of the whole mapping
  std::uint32_t record_size;       // bytes per ring record, kRecordSize
  std::uint32_t ring_count;        // number of rings
  std::uint32_t ring_capacity;     // records per ring, a power of two
  std::uint32_t clock_source;      // ClockSource
  std::uint64_t string_table_offset;  // bytes from segment start to StringTable
  std::uint64_t rings_offset;      // bytes from segment start to RingHeader[0]
  std::uint64_t ring_data_offset;  // bytes from segment start to ring 0's first record
  std::uint32_t producer_pid;      // getpid() of the engine
  std::uint32_t service_name_length;  // bytes used in service_name
  std::uint64_t producer_start_time;  // /proc/<pid>/stat field 22 (clock ticks since boot):
                                      // pid + start time identify the process across pid reuse
  std::uint64_t created_unix_ns;      // CLOCK_REALTIME at creation
  // Clock anchor taken together at creation (best of several samples: take_clock_anchor in
  // shm/src/clock.cpp).
  std::uint64_t clock_anchor_tsc;     // raw timestamp in clock_source units
  std::uint64_t clock_anchor_raw_ns;  // CLOCK_MONOTONIC_RAW ns at the same instant
  std::uint64_t clock_anchor_mono_ns; // CLOCK_MONOTONIC ns at the same instant
  std::uint64_t clock_anchor_unix_ns; // CLOCK_REALTIME ns at the same instant
  std::uint64_t reserved_clock;       // zero
  char service_name[kServiceNameMax]; // UTF-8, not NUL-terminated

  // Resource attributes from OTEL_RESOURCE_ATTRIBUTES and the API, encoded as
  // resource_count entries of [u16 key_len][key][u16 value_len][value], string values only.
  std::uint32_t resource_count;
  std::uint32_t resource_bytes_used;
  std::uint8_t resource[kResourceBytes];

  std::uint8_t reserved_identity[256];  // zero; room for minor versions to grow into

  // --- publication of the identity block -----------------------------------------------------
  // 0 until the producer has filled everything above and the ring headers; then 1, stored
  // with release. A reader loads it with acquire and ignores a segment where it is 0 (an
  // engine still initialising, or one that died while doing so).
  alignas(64) std::atomic<std::uint32_t> ready;
  // Set to 1 (release) by a producer that shut down cleanly (spanring::shutdown / exit);
  // readers use it as a hint that no more spans will come. A crashed producer leaves it 0.
  std::atomic<std::uint32_t> closed;

  // --- process-wide counters: any producer thread adds, relaxed -----------------------------
  // Relaxed is enough: these are statistics read by the agent, which never uses them to
  // decide what memory to read. Per-ring counters live in RingHeader (single writer there).
  alignas(64) std::atomic<std::uint64_t> spans_dropped_no_ring;   // kDropNoRing
  std::atomic<std::uint64_t> traceparent_invalid;  // malformed incoming traceparent headers
  std::atomic<std::uint64_t> strings_interned_failed;  // table full: string sent inline
  // Incremented (release) each time a thread releases its ring; threads without a ring retry
  // their claim only when it changed (acquire), so a ringless thread never scans on every span.
  std::atomic<std::uint64_t> ring_release_generation;
};

// ---------------------------------------------------------------------------------------------
// StringTable: interned span names and attribute keys, append-only. The producer (its slow
// path, under a process-local mutex) writes the bytes of entry `count` and its offset, then
// stores count+1 with release; a reader loads `count` with acquire and may then read entries
// [0, count). Ids are stable for the segment's life, so a reader may cache what an id means.
//   entry i: offsets[i] = byte offset in `bytes` of [u16 length][bytes]
struct StringTable {
  alignas(64) std::atomic<std::uint32_t> count;  // entries published
  std::uint32_t bytes_used;                      // producer-only bookkeeping
  std::uint32_t offsets[kStringTableEntries];
  std::uint8_t bytes[kStringTableBytes];
};

// ---------------------------------------------------------------------------------------------
// RingHeader: one per ring, 3 cache lines: ownership, producer-written, reader-written. Keeping
// head and tail on separate lines stops the two processes from bouncing one line per span.
//
//   owner_tid:  0 ──claim (CAS, acq_rel)──▶ tid ──thread exit (store 0, release)──▶ 0
//               tid of a dead thread ──reclaim (CAS tid→new, acq_rel) by a ringless thread──▶ new
struct RingHeader {
  // Linux tid of the thread that owns the ring, 0 when free. The CAS that claims it is
  // acquire so the new owner sees `head` as the previous owner left it (release on release).
  alignas(64) std::atomic<std::uint32_t> owner_tid;
  std::uint32_t owner_reserved;

  // --- producer cache line -------------------------------------------------------------------
  // Records published: the producer stores head+n with release after writing the records
  // (①); the reader loads it with acquire. Monotonic, never wraps in practice (2^64 records).
  alignas(64) std::atomic<std::uint64_t> head;
  // Spans written and dropped for a full ring. Single writer (the owner thread), so the
  // producer updates them with a relaxed load + relaxed store (no locked instruction). It
  // stores spans_written before its release store of head, so a reader that loads head with
  // acquire and then spans_written sees every span visible through head counted.
  std::atomic<std::uint64_t> spans_written;
  std::atomic<std::uint64_t> spans_dropped_full;

  // --- reader cache line ---------------------------------------------------------------------
  // Records consumed: the reader stores it with release once it is done with the records
  // below it (the agent: once the backend accepted them); the producer loads it with acquire
  // (②) only when its cached copy says the ring is full, so it can reuse those slots.
  alignas(64) std::atomic<std::uint64_t> tail;
};

// ---------------------------------------------------------------------------------------------
// Records. record i of ring r lives at
//   ring_data_offset + (r * ring_capacity + (i & (ring_capacity - 1))) * record_size
enum RecordType : std::uint8_t {
  kRecordInvalid = 0,       // zero-filled memory: never published as such
  kRecordSpan = 1,          // first record of a span: payload starts with SpanFixed
  kRecordContinuation = 2,  // following records of the same span
};

struct RecordHeader {
  std::uint8_t type;          // RecordType
  std::uint8_t index;         // 0 for kRecordSpan, k for the k-th continuation
  std::uint8_t count;         // records in this span (same value in every record of it)
  std::uint8_t reserved;      // zero
  std::uint16_t payload_len;  // bytes of payload used, ≤ kRecordPayload
  std::uint16_t span_bytes_hi;  // reserved (zero)
};

struct Record {
  RecordHeader header;
  std::uint8_t payload[kRecordPayload];
};

// ---------------------------------------------------------------------------------------------
// Span encoding: the concatenated payloads of a span's records are
//   SpanFixed, then items until the end of the stream.
// The encoder (used by the client's Span) and the decoder (used by the reader) are both in
// span_codec.hpp. Every value below is defined here once; the C API (spanring.h) spells kind
// and status again for C callers, and client/src/c_api.cpp static_asserts that they agree.

// Span kind; the values are OTLP's SpanKind. spanring::SpanKind in the client API is this type.
enum class SpanKind : std::uint8_t {
  kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5,
};
// Status code; the values are OTLP's StatusCode. spanring::StatusCode is this type.
enum class StatusCode : std::uint8_t { kUnset = 0, kOk = 1, kError = 2 };
// The same values as wire bytes (SpanFixed::kind / status, SpanView::kind / status).
inline constexpr std::uint8_t kKindInternal = static_cast<std::uint8_t>(SpanKind::kInternal);
inline constexpr std::uint8_t kKindServer = static_cast<std::uint8_t>(SpanKind::kServer);
inline constexpr std::uint8_t kKindClient = static_cast<std::uint8_t>(SpanKind::kClient);
inline constexpr std::uint8_t kKindProducer = static_cast<std::uint8_t>(SpanKind::kProducer);
inline constexpr std::uint8_t kKindConsumer = static_cast<std::uint8_t>(SpanKind::kConsumer);
inline constexpr std::uint8_t kStatusUnset = static_cast<std::uint8_t>(StatusCode::kUnset);
inline constexpr std::uint8_t kStatusOk = static_cast<std::uint8_t>(StatusCode::kOk);
inline constexpr std::uint8_t kStatusError = static_cast<std::uint8_t>(StatusCode::kError);

// Span flag bits (SpanFixed::span_flags, and a link's flags byte). Only the first two reach
// OTLP (as SpanFlags bits 8–9, see otlp_flags below); the other two are for the reader.
// In a link, "parent" reads "linked span": kSpanFlagHasRemote says whether the linked span is
// remote is known, kSpanFlagParentRemote that it is remote.
inline constexpr std::uint8_t kSpanFlagHasRemote = 0x01;     // is-remote of the parent is known
inline constexpr std::uint8_t kSpanFlagParentRemote = 0x02;  // the parent is in another process
inline constexpr std::uint8_t kSpanFlagHasParent = 0x04;     // parent_span_id is meaningful
// The trace entered this process from a remote parent (set on the entry span and inherited
// by its local descendants), so trace_flags carries an upstream sampling decision that a
// parent-based sampler honours for every span of the trace, not just the entry span.
inline constexpr std::uint8_t kSpanFlagTraceRemote = 0x08;

// A span is its process's local root when it has no parent or its parent is in another
// process: the part of the trace this process records is complete once it has ended.
constexpr bool is_local_root(bool has_parent, std::uint8_t span_flags) noexcept {
  return !has_parent || (span_flags & kSpanFlagParentRemote) != 0;
}

// OTLP Span.flags / Span.Link.flags: W3C trace flags in bits 0–7 (only the bits W3C defines
// today: sampled, random), then bit 8 "is-remote known" and bit 9 "is remote" from span_flags.
inline constexpr std::uint32_t kOtlpFlagsTraceFlagsMask = 0x03;
inline constexpr std::uint32_t kOtlpFlagContextHasIsRemote = 0x100;  // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
inline constexpr std::uint32_t kOtlpFlagContextIsRemote = 0x200;     // SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
constexpr std::uint32_t otlp_flags(std::uint8_t trace_flags, std::uint8_t span_flags) noexcept {
  std::uint32_t f = trace_flags & kOtlpFlagsTraceFlagsMask;
  if (span_flags & kSpanFlagHasRemote) {
    f |= kOtlpFlagContextHasIsRemote;
    if (span_flags & kSpanFlagParentRemote) f |= kOtlpFlagContextIsRemote;
  }
  return f;
}

struct SpanFixed {
  std::uint8_t trace_id[16];
  std::uint8_t span_id[8];
  std::uint8_t parent_span_id[8];  // zero for a root span
  std::uint64_t start_time;        // raw clock units (SegmentHeader::clock_source), or
                                   // kTimeUnixNs | Unix ns for an explicit time (ABI 2.0)
  std::uint64_t end_time;          // the same
  std::uint8_t kind;               // SpanKind
  std::uint8_t status;             // StatusCode
  std::uint8_t trace_flags;        // W3C trace-flags
  std::uint8_t span_flags;         // kSpanFlag*
  // Attributes, events and links the client could not encode. Each saturates at 65535
  // ("at least"): the client never wraps it. An event's or link's own u8 dropped count
  // saturates at 255 the same way.
  std::uint16_t dropped_attributes;
  std::uint16_t dropped_events;
  std::uint16_t dropped_links;
  // Name of this span's local root (the trace's first span in this process) as an interned
  // string ref, or 0 when not interned. Inherited by children at start, so the agent knows a
  // trace's operation from any of its spans — children end (and arrive) before their root.
  // Added in ABI 1.1 (a 1.0 producer writes 0 here).
  std::uint16_t root_name;
  // Zero. Named rather than left as padding so the encoder writes it: otherwise these bytes
  // would carry whatever was on the engine's stack into a segment other users may read.
  std::uint8_t reserved[4];
};

// Items. Each begins with a one-byte tag. A string `str` is a u16 `n`:
//   n & 0x8000  -> interned: id = n & 0x7fff indexes the StringTable
//   otherwise   -> inline: n bytes follow (n ≤ kMaxStringLength)
// All multi-byte values are little-endian and unaligned.
// Attribute value types. Each value is the tag of the item that carries such an attribute, so
// the encoder, the decoder (AttrView::type) and the client's Attribute share one numbering.
// Arrays (ABI 2.0) are homogeneous, as OTLP's AnyValue arrays from OpenTelemetry APIs are.
enum AttrType : std::uint8_t {
  kAttrBool = 2, kAttrInt = 3, kAttrDouble = 4, kAttrString = 5,
  kAttrBoolArray = 10, kAttrIntArray = 11, kAttrDoubleArray = 12, kAttrStringArray = 13,
};
// The element type of an array type (kAttrBoolArray → kAttrBool), and whether a type is one.
constexpr bool is_array_type(std::uint8_t t) noexcept { return t >= kAttrBoolArray && t <= kAttrStringArray; }
constexpr AttrType array_element_type(std::uint8_t array_type) noexcept {
  return static_cast<AttrType>(array_type - kAttrBoolArray + kAttrBool);
}
// An array holds at most this many elements (u16 count; the span's 1 KiB bounds it anyway).
inline constexpr std::uint32_t kMaxArrayElements = 0xffff;

enum ItemTag : std::uint8_t {
  kItemName = 1,                  // str
  kItemAttrBool = kAttrBool,      // str key, u8 value (0/1)
  kItemAttrInt = kAttrInt,        // str key, i64
  kItemAttrDouble = kAttrDouble,  // str key, f64
  kItemAttrString = kAttrString,  // str key, str value
  kItemStatusMessage = 6,  // str
  kItemTraceState = 7,   // str (W3C tracestate of this span)
  kItemEvent = 8,        // u64 time (raw clock, or kTimeUnixNs | Unix ns), str name, u8 attr_count, u8 dropped_attrs;
                         // then attr_count attribute items belonging to the event
  kItemLink = 9,         // 16 trace id, 8 span id, u8 trace_flags, u8 flags (kSpanFlag*),
                         // str trace_state, u8 attr_count, u8 dropped_attrs; then attrs
  // ABI 2.0: array attributes: str key, u16 count, then count elements: u8 (0/1) each for
  // bool, i64 for int, f64 for double, and for string an inline str each (never interned, so
  // a reader can walk a validated array's bytes without the string table).
  kItemAttrBoolArray = kAttrBoolArray,
  kItemAttrIntArray = kAttrIntArray,
  kItemAttrDoubleArray = kAttrDoubleArray,
  kItemAttrStringArray = kAttrStringArray,
};

inline constexpr std::uint16_t kStrInterned = 0x8000;

// ---------------------------------------------------------------------------------------------
// Layout pins. A change here is an ABI change: bump kAbiMajor.
static_assert(sizeof(std::atomic<std::uint32_t>) == 4 && std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(SegmentHeader) <= kHeaderSize);
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, abi_major) == 8);
static_assert(offsetof(SegmentHeader, header_size) == 12);
static_assert(offsetof(SegmentHeader, service_name) == 128);
static_assert(offsetof(SegmentHeader, ready) == 2624);  // readers of any ABI version look here
static_assert(sizeof(RingHeader) == 192);
static_assert(offsetof(RingHeader, head) == 64);
static_assert(offsetof(RingHeader, tail) == 128);
static_assert(sizeof(RecordHeader) == kRecordHeaderSize);
static_assert(sizeof(Record) == kRecordSize);
static_assert(sizeof(SpanFixed) == 64);
static_assert(kMaxRecordsPerSpan <= 255);
static_assert(kStringTableEntries <= 0x7fff);
static_assert(kItemAttrBool == 2 && kItemAttrInt == 3 && kItemAttrDouble == 4 && kItemAttrString == 5);

inline constexpr std::uint64_t string_table_size() { return sizeof(StringTable); }

}  // namespace spanring::shm
