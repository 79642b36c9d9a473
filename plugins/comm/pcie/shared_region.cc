#include "shared_region.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

constexpr uint64_t kMagic = 0x53595043494531ull;  // "SYPCIE1"

size_t Align(size_t n, size_t to) { return (n + to - 1) / to * to; }

size_t DataOffset(int world_size) {
  return Align(sizeof(RegionHeader) + world_size * sizeof(Channel), 4096);
}

[[noreturn]] void ThrowErrno(const std::string& what) {
  throw PluginError(SY_INTERNAL, what + ": " + std::strerror(errno));
}

}  // namespace

size_t SharedRegion::Size(int world_size, size_t slot_bytes) {
  return DataOffset(world_size) + Align(world_size * kBuffers * slot_bytes, 4096);
}

SharedRegion::SharedRegion(std::string name, void* base, size_t size, int world_size,
                           size_t slot_bytes, bool owned)
    : name_(std::move(name)),
      base_(base),
      size_(size),
      world_size_(world_size),
      slot_bytes_(slot_bytes),
      linked_(owned) {}

SharedRegion::SharedRegion(SharedRegion&& other) noexcept { *this = std::move(other); }

SharedRegion& SharedRegion::operator=(SharedRegion&& other) noexcept {
  std::swap(name_, other.name_);
  std::swap(base_, other.base_);
  std::swap(size_, other.size_);
  std::swap(world_size_, other.world_size_);
  std::swap(slot_bytes_, other.slot_bytes_);
  std::swap(linked_, other.linked_);
  return *this;
}

SharedRegion::~SharedRegion() {
  if (base_ != nullptr) munmap(base_, size_);
  Unlink();
}

void SharedRegion::Unlink() {
  if (linked_) shm_unlink(name_.c_str());
  linked_ = false;
}

SharedRegion SharedRegion::Create(const std::string& name, int owner_rank, int world_size,
                                  size_t slot_bytes) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 && errno == EEXIST) {  // left by a killed run with the same group id
    Log(SY_LOG_WARNING, "comm.pcie", "replacing the stale shared memory " + name);
    shm_unlink(name.c_str());
    fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  }
  if (fd < 0) ThrowErrno("shm_open " + name);
  const size_t size = Size(world_size, slot_bytes);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int error = errno;
    close(fd);
    shm_unlink(name.c_str());
    errno = error;
    ThrowErrno("sizing shared memory " + name + " (is /dev/shm big enough?)");
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    shm_unlink(name.c_str());
    ThrowErrno("mmap " + name);
  }
  SharedRegion region(name, base, size, world_size, slot_bytes, /*owned=*/true);
  auto* header = new (base) RegionHeader{};
  header->owner_rank = owner_rank;
  header->world_size = world_size;
  header->slot_bytes = slot_bytes;
  for (int p = 0; p < world_size; ++p) new (&region.channel(p)) Channel{};
  std::atomic_thread_fence(std::memory_order_release);
  header->magic = kMagic;
  return region;
}

SharedRegion SharedRegion::Open(const std::string& name, int owner_rank, int world_size,
                                size_t slot_bytes) {
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) ThrowErrno("shm_open " + name + " of rank " + std::to_string(owner_rank));
  const size_t size = Size(world_size, slot_bytes);
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != size) {
    close(fd);
    throw PluginError(SY_FAILED_PRECONDITION,
                      "shared memory " + name + " of rank " + std::to_string(owner_rank) +
                          " has another size: do the ranks use the same chunk_kb?");
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) ThrowErrno("mmap " + name);
  SharedRegion region(name, base, size, world_size, slot_bytes, /*owned=*/false);
  std::atomic_thread_fence(std::memory_order_acquire);
  const RegionHeader& h = region.header();
  if (h.magic != kMagic || h.owner_rank != owner_rank || h.world_size != world_size ||
      h.slot_bytes != slot_bytes) {
    throw PluginError(SY_FAILED_PRECONDITION, "shared memory " + name +
                                                  " does not belong to rank " +
                                                  std::to_string(owner_rank) + " of this group");
  }
  return region;
}

Channel& SharedRegion::channel(int sender) const {
  return reinterpret_cast<Channel*>(static_cast<char*>(base_) + sizeof(RegionHeader))[sender];
}

char* SharedRegion::slot(int sender, uint64_t chunk) const {
  return static_cast<char*>(base_) + DataOffset(world_size_) +
         (static_cast<size_t>(sender) * kBuffers + chunk % kBuffers) * slot_bytes_;
}

void SharedRegion::Ring() const {
  RegionHeader& h = header();
  h.doorbell.fetch_add(1, std::memory_order_seq_cst);
  if (h.sleeping.load(std::memory_order_seq_cst) != 0) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&h.doorbell), FUTEX_WAKE, 1, nullptr, nullptr,
            0);
  }
}

void SharedRegion::Sleep(uint32_t seen, int64_t max_wait_us) const {
  RegionHeader& h = header();
  h.sleeping.store(1, std::memory_order_seq_cst);
  if (h.doorbell.load(std::memory_order_seq_cst) == seen) {
    const timespec wait = {static_cast<time_t>(max_wait_us / 1000000),
                           static_cast<long>(max_wait_us % 1000000) * 1000};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&h.doorbell), FUTEX_WAIT, seen, &wait, nullptr,
            0);
  }
  h.sleeping.store(0, std::memory_order_seq_cst);
}

}  // namespace sy::plugins
