// The POSIX shared memory behind comm.pcie: every rank owns one region that its peers write
// into. A region holds, per sending peer, a channel of kBuffers slots of slot_bytes each; the
// sender fills a slot and publishes it by advancing `sent`, the owner copies it out and frees
// it by advancing `received` (both are chunk counts that only grow). Every change a rank may
// wait for rings that rank's doorbell, a futex word it sleeps on when there is nothing to do.
#ifndef SWITCHYARD_PLUGINS_COMM_PCIE_SHARED_REGION_H_
#define SWITCHYARD_PLUGINS_COMM_PCIE_SHARED_REGION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sy::plugins {

inline constexpr int kBuffers =
    2;  // slots per channel: the sender fills one while the owner drains the other

struct alignas(64) Channel {
  alignas(64) std::atomic<uint64_t> sent;      // chunks published by the sender
  alignas(64) std::atomic<uint64_t> received;  // chunks the owner has copied out
  uint64_t chunk_bytes[kBuffers];              // size of the chunk in each slot
  uint64_t message_bytes[kBuffers];            // size of the whole message it belongs to
};

struct alignas(64) RegionHeader {
  uint64_t magic;
  int32_t owner_rank;
  int32_t world_size;
  uint64_t slot_bytes;
  alignas(64) std::atomic<uint32_t> doorbell;  // futex word
  alignas(64) std::atomic<uint32_t> sleeping;  // the owner is (about to be) waiting on it
};

// A mapped region: created by its owner, opened by its peers.
class SharedRegion {
 public:
  // Bytes of a region for `world_size` peers and slots of `slot_bytes`.
  static size_t Size(int world_size, size_t slot_bytes);
  // Creates and initialises /<name> (a leftover of the same name is replaced). Throws.
  static SharedRegion Create(const std::string& name, int owner_rank, int world_size,
                             size_t slot_bytes);
  // Maps a peer's region and checks its header. Throws.
  static SharedRegion Open(const std::string& name, int owner_rank, int world_size,
                           size_t slot_bytes);

  SharedRegion() = default;
  SharedRegion(SharedRegion&& other) noexcept;
  SharedRegion& operator=(SharedRegion&& other) noexcept;
  ~SharedRegion();  // unmaps; unlinks the name too when this process created it and still holds it

  // Removes the name (the mapping stays valid): once every peer has mapped it, nothing is left
  // behind in /dev/shm even if a process is killed.
  void Unlink();

  RegionHeader& header() const { return *static_cast<RegionHeader*>(base_); }
  Channel& channel(int sender) const;
  char* slot(int sender, uint64_t chunk) const;
  void* base() const { return base_; }
  size_t size() const { return size_; }

  // Wakes the owner (after a change it may be waiting for).
  void Ring() const;
  // The owner sleeps until the doorbell moves from `seen` or `max_wait_us` passes.
  void Sleep(uint32_t seen, int64_t max_wait_us) const;

 private:
  SharedRegion(std::string name, void* base, size_t size, int world_size, size_t slot_bytes,
               bool owned);

  std::string name_;
  void* base_ = nullptr;
  size_t size_ = 0;
  int world_size_ = 0;
  size_t slot_bytes_ = 0;
  bool linked_ = false;  // owned and not yet unlinked
};

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_COMM_PCIE_SHARED_REGION_H_
