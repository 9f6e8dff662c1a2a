#include "agent/export/disk_queue.hpp"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "agent/base/log.hpp"

namespace spanring::agent {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kMagic = 0x31515253;  // "SRQ1" in a little-endian dump; the version is in it
constexpr std::size_t kHeaderBytes = 4 + 4 + 8 + 4;  // magic, crc, spans, service count
constexpr std::size_t kServiceBytes = 4 + 8;         // name length, spans (+ the name)

// Little-endian fixed-width fields, whatever the host: a store may be read by another build.
template <typename T>
void put_le(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
template <typename T>
T get_le(const char* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::uint32_t crc_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large bodies in pieces.
  while (!bytes.empty()) {
    const std::size_t n = std::min<std::size_t>(bytes.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n));
    bytes.remove_prefix(n);
  }
  return static_cast<std::uint32_t>(crc);
}

// Keys are big-endian so that LMDB's memcmp order is sequence order.
struct Key {
  explicit Key(std::uint64_t seq) {
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(seq >> (56 - 8 * i));
  }
  MDB_val val() { return MDB_val{sizeof bytes, bytes}; }
  unsigned char bytes[8];
};

std::uint64_t seq_of(const MDB_val& key) {
  if (key.mv_size != 8) return 0;
  std::uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq = (seq << 8) | static_cast<const unsigned char*>(key.mv_data)[i];
  return seq;
}

bool store_is_corrupt(int rc) {
  return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND;
}

}  // namespace

std::string encode_record(const DiskRecord& record) {
  std::string out;
  std::size_t size = kHeaderBytes + record.body.size();
  for (const ServiceCount& s : record.services) size += kServiceBytes + s.service.size();
  out.reserve(size);
  put_le<std::uint32_t>(out, kMagic);
  put_le<std::uint32_t>(out, 0);  // CRC, filled below
  put_le<std::uint64_t>(out, record.spans);
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(record.services.size()));
  for (const ServiceCount& s : record.services) {
    put_le<std::uint32_t>(out, static_cast<std::uint32_t>(s.service.size()));
    out += s.service;
    put_le<std::uint64_t>(out, s.spans);
  }
  out += record.body;
  const std::uint32_t crc = crc_of(std::string_view(out).substr(8));
  for (int i = 0; i < 4; ++i) out[4 + static_cast<std::size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return out;
}

std::optional<DiskRecord> decode_record(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes) return std::nullopt;
  if (get_le<std::uint32_t>(bytes.data()) != kMagic) return std::nullopt;
  if (get_le<std::uint32_t>(bytes.data() + 4) != crc_of(bytes.substr(8))) return std::nullopt;
  DiskRecord r;
  r.spans = get_le<std::uint64_t>(bytes.data() + 8);
  const std::uint32_t count = get_le<std::uint32_t>(bytes.data() + 16);
  std::size_t at = kHeaderBytes;
  // Each service takes at least kServiceBytes: a count the bytes cannot hold is corrupt, checked
  // before anything is reserved.
  if (count > (bytes.size() - at) / kServiceBytes) return std::nullopt;
  r.services.reserve(count);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (bytes.size() - at < kServiceBytes) return std::nullopt;
    const std::uint32_t len = get_le<std::uint32_t>(bytes.data() + at);
    at += 4;
    if (bytes.size() - at < std::uint64_t{len} + 8) return std::nullopt;
    ServiceCount s;
    s.service.assign(bytes.data() + at, len);
    at += len;
    s.spans = get_le<std::uint64_t>(bytes.data() + at);
    at += 8;
    if (s.spans > r.spans - total) return std::nullopt;
    total += s.spans;
    r.services.push_back(std::move(s));
  }
  if (total != r.spans) return std::nullopt;
  r.body.assign(bytes.data() + at, bytes.size() - at);
  return r;
}

struct DiskQueue::Lmdb {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  ~Lmdb() {
    if (env) mdb_env_close(env);
  }
};

namespace {

// LMDB's own errors, and errno values it passes through, both by mdb_strerror().
std::string lmdb_error(const std::string& what, int rc) { return what + ": " + mdb_strerror(rc); }

}  // namespace

std::unique_ptr<DiskQueue> DiskQueue::open(const std::string& directory, std::uint64_t max_bytes, std::string& error) {
  std::unique_ptr<DiskQueue> q(new DiskQueue());
  q->directory_ = directory;
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) {
    fs::create_directories(directory, ec);
    if (ec) {
      error = "queue.directory " + directory + ": cannot create it: " + ec.message();
      return nullptr;
    }
    fs::permissions(directory, fs::perms::owner_all, ec);
  }
  const std::string lock_path = directory + "/queue.lock";
  q->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (q->lock_fd_ < 0) {
    error = "queue.directory " + directory + ": cannot open " + lock_path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(q->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    error = "queue.directory " + directory + " is in use by another spanring-agent (" + lock_path +
            " is locked): give each agent its own queue.directory";
    return nullptr;
  }

  // Room for max_bytes of bodies plus LMDB's pages, B-tree and free-list overhead; a store that
  // still fills up refuses put() (counted as queue_full), it does not grow past this.
  const std::uint64_t map_size = max_bytes + max_bytes / 2 + (std::uint64_t{16} << 20);
  for (int round = 0; round < 2; ++round) {
    auto db = std::make_unique<Lmdb>();
    int rc = mdb_env_create(&db->env);
    if (rc == 0) rc = mdb_env_set_mapsize(db->env, map_size);
    if (rc == 0) rc = mdb_env_open(db->env, directory.c_str(), MDB_NOTLS, 0600);
    MDB_txn* txn = nullptr;
    if (rc == 0) rc = mdb_txn_begin(db->env, nullptr, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &db->dbi);
    // Every record, oldest first: valid ones are resumed, the rest deleted and counted.
    MDB_cursor* cursor = nullptr;
    if (rc == 0) rc = mdb_cursor_open(txn, db->dbi, &cursor);
    if (rc == 0) {
      MDB_val key, val;
      int get = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
      for (; get == 0; get = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
        const std::uint64_t seq = seq_of(key);
        const auto record = seq == 0 ? std::nullopt
                                     : decode_record(std::string_view(static_cast<const char*>(val.mv_data), val.mv_size));
        if (!record) {
          ++q->corrupt_records_;
          SPANRING_LOG_ERROR("queue.directory %s: record %llu does not parse (corrupt): deleted, its spans are lost",
                             directory.c_str(), static_cast<unsigned long long>(seq));
          if ((get = mdb_cursor_del(cursor, 0)) != 0) break;
          continue;
        }
        q->resumed_.push_back(Resumed{seq, record->spans, record->body.size(), record->services});
        q->next_seq_ = seq + 1;
      }
      rc = get == MDB_NOTFOUND ? 0 : get;
      mdb_cursor_close(cursor);
    }
    if (rc == 0) rc = mdb_txn_commit(txn);
    else if (txn) mdb_txn_abort(txn);
    if (rc == 0) {
      q->db_ = std::move(db);
      return q;
    }
    db.reset();
    q->resumed_.clear();
    if (round == 0 && store_is_corrupt(rc)) {
      // LMDB cannot read it: keep the file for a post-mortem, start an empty queue.
      const std::string aside = directory + "/data.mdb.corrupt-" + std::to_string(std::time(nullptr));
      fs::rename(directory + "/data.mdb", aside, ec);
      fs::remove(directory + "/lock.mdb", ec);
      ++q->store_resets_;
      SPANRING_LOG_ERROR("queue.directory %s: the store is unreadable (%s): moved to %s, starting an empty queue; "
                         "the batches it held are lost",
                         directory.c_str(), mdb_strerror(rc), aside.c_str());
      continue;
    }
    error = lmdb_error("queue.directory " + directory + ": cannot open the LMDB store", rc);
    return nullptr;
  }
  error = "queue.directory " + directory + ": the store is still unreadable after moving it aside";
  return nullptr;
}

DiskQueue::~DiskQueue() {
  db_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::vector<DiskQueue::Resumed> DiskQueue::take_resumed() { return std::exchange(resumed_, {}); }

bool DiskQueue::put(const std::vector<std::pair<std::uint64_t, const DiskRecord*>>& records, std::string& error) {
  if (records.empty()) return true;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(db_->env, nullptr, 0, &txn);
  for (const auto& [seq, record] : records) {
    if (rc != 0) break;
    if (seq < next_seq_) {
      rc = MDB_KEYEXIST;
      break;
    }
    std::string value = encode_record(*record);
    Key key(seq);
    MDB_val k = key.val();
    MDB_val v{value.size(), value.data()};
    rc = mdb_put(txn, db_->dbi, &k, &v, MDB_APPEND);
  }
  if (rc == 0) {
    rc = mdb_txn_commit(txn);  // frees txn whatever the outcome; syncs data and meta page
  } else if (txn) {
    mdb_txn_abort(txn);
  }
  if (rc != 0) {
    error = rc == MDB_MAP_FULL ? "queue.directory " + directory_ + ": the store is full"
                               : lmdb_error("queue.directory " + directory_ + ": write failed", rc);
    return false;
  }
  next_seq_ = records.back().first + 1;
  return true;
}

std::optional<DiskRecord> DiskQueue::get(std::uint64_t seq, std::string& error) {
  Key key(seq);
  MDB_val k = key.val();
  MDB_val v;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(db_->env, nullptr, MDB_RDONLY, &txn);
  std::optional<DiskRecord> record;
  if (rc == 0) rc = mdb_get(txn, db_->dbi, &k, &v);
  if (rc == 0) record = decode_record(std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
  if (txn) mdb_txn_abort(txn);
  if (rc != 0) {
    error = lmdb_error("queue.directory " + directory_ + ": record " + std::to_string(seq) + " unreadable", rc);
    return std::nullopt;
  }
  if (!record) {
    ++corrupt_records_;
    error = "queue.directory " + directory_ + ": record " + std::to_string(seq) + " does not parse (corrupt)";
    remove({seq});
  }
  return record;
}

void DiskQueue::remove(const std::vector<std::uint64_t>& seqs) {
  if (seqs.empty()) return;
  // A removal need not survive a power cut (that only re-sends the batch), so the meta page is
  // not synced; the data pages are, which keeps the store consistent (LMDB's MDB_NOMETASYNC).
  mdb_env_set_flags(db_->env, MDB_NOMETASYNC, 1);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(db_->env, nullptr, 0, &txn);
  for (std::uint64_t seq : seqs) {
    if (rc != 0) break;
    Key key(seq);
    MDB_val k = key.val();
    rc = mdb_del(txn, db_->dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) rc = 0;
  }
  if (rc == 0) {
    rc = mdb_txn_commit(txn);
  } else if (txn) {
    mdb_txn_abort(txn);
  }
  mdb_env_set_flags(db_->env, MDB_NOMETASYNC, 0);
  if (rc != 0) {
    SPANRING_LOG_ERROR("queue.directory %s: cannot delete %zu answered record(s) (%s): the next start sends them again",
                       directory_.c_str(), seqs.size(), mdb_strerror(rc));
  }
}

}  // namespace spanring::agent
