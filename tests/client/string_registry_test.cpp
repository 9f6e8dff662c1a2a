// The string registry outlives segments: a Key interned before init gets an id that the
// segment init makes must hold. The registry's byte budget equals a segment's string table,
// so it never hands out an id a segment could not publish; a key beyond it stays inline.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "spanring/shm/segment.hpp"
#include "test_support.hpp"

namespace spanring::test {
namespace {

constexpr int kKeys = 100;
constexpr std::size_t kKeyBytes = 1000;
// shm::kMaxInlineNameBytes: an inline span name is cut to this many bytes (ASCII here).
constexpr std::size_t kInlineNameBytes = 256;

std::string long_key_text(int i) {
  std::string s = "registry.key." + std::to_string(i) + ".";
  s.resize(kKeyBytes, static_cast<char>('a' + i % 26));
  return s;
}

// Removes a segment at scope exit, so a failed assertion does not leak it.
struct RemoveSegment {
  std::string name;
  ~RemoveSegment() {
    if (!name.empty()) shm::remove_segment(name);
  }
};

struct TableUse {
  std::string error;
  std::uint32_t count = 0;  // entries published
  std::uint32_t bytes = 0;  // bytes those entries take
};

TableUse table_use(const std::string& segment) {
  TableUse u;
  shm::Mapping m;
  if (shm::attach_segment(segment, m, u.error) != shm::SegmentError::kOk) return u;
  const auto* table = reinterpret_cast<const shm::StringTable*>(m.data() + m.header()->string_table_offset);
  u.count = table->count.load(std::memory_order_acquire);
  if (u.count != 0) {
    const std::uint32_t last = table->offsets[u.count - 1];
    std::uint16_t n;
    std::memcpy(&n, table->bytes + last, 2);
    u.bytes = last + 2 + n;
  }
  return u;
}

class StringRegistry : public TracerTest {
 protected:
  // In a child (the registry is process-wide: filling it here would leave every later test's
  // keys inline): interns kKeys long keys with no segment, then inits and ends one span
  // named with each key.
  int child_interns_before_init() {
    std::vector<std::string> texts;
    std::vector<Key> keys;
    texts.reserve(kKeys);  // Keys reference their text: no reallocation
    keys.reserve(kKeys);
    for (int i = 0; i < kKeys; ++i) {
      texts.push_back(long_key_text(i));
      keys.emplace_back(texts.back());
    }
    int interned = 0;
    while (interned < kKeys && keys[interned].ref() != 0) ++interned;
    for (int i = interned; i < kKeys; ++i)
      if (keys[i].ref() != 0) {
        child_note("key " + std::to_string(i) + " interned after an inline one");
        return 2;
      }
    child_note("interned=" + std::to_string(interned));
    if (interned > 0) child_note("last_id=" + std::to_string(keys[interned - 1].ref() & 0x7fff));

    Options o;
    o.service_name = service_;
    o.shm_size = kSmallSegment;
    o.rings = 1;
    const InitStatus st = spanring::init(o);
    if (!st.ok()) {
      child_note("init: " + st.message);
      return 3;
    }
    child_note("segment=" + st.segment);
    for (const Key& k : keys) Span s(k);
    if (counters().spans_written != kKeys) return 4;
    spanring::shutdown();
    return 0;
  }
};

TEST_F(StringRegistry, KeysInternedBeforeInitBeyondTheTableBytesStayInlineAndEverySpanDecodes) {
  const ChildResult r = run_in_child([this] { return child_interns_before_init(); });
  RemoveSegment cleanup{note_value(r.output, "segment")};
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // 64 KiB of table holds at most 65 entries of 2 + 1000 bytes.
  const int interned = std::stoi(note_value(r.output, "interned"));
  EXPECT_GT(interned, 0);
  EXPECT_LE(interned, static_cast<int>(shm::kStringTableBytes / (2 + kKeyBytes)));

  // Every id handed out is in the table, and the first inline key really did not fit.
  const TableUse use = table_use(cleanup.name);
  ASSERT_EQ(use.error, "");
  EXPECT_EQ(std::stoul(note_value(r.output, "last_id")) + 1, use.count);
  EXPECT_LE(use.bytes, shm::kStringTableBytes);
  EXPECT_GT(use.bytes + 2 + kKeyBytes, shm::kStringTableBytes);

  const SegmentContents c = read_segment(cleanup.name);
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.rejected, 0u);
  EXPECT_EQ(c.spans_written, static_cast<std::uint64_t>(kKeys));
  ASSERT_EQ(c.spans.size(), static_cast<std::size_t>(kKeys));
  for (int i = 0; i < kKeys; ++i) {
    const std::string text = long_key_text(i);
    if (i < interned) {
      EXPECT_TRUE(c.spans[i].name_interned) << i;
      EXPECT_EQ(c.spans[i].name, text) << i;
    } else {
      EXPECT_FALSE(c.spans[i].name_interned) << i;
      EXPECT_EQ(c.spans[i].name, text.substr(0, kInlineNameBytes)) << i;
    }
  }
}

}  // namespace
}  // namespace spanring::test
