#include "core/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/safetensors_header.h"

namespace sy {
namespace {

constexpr int64_t kLengthBytes = 8;

struct DTypeMapping {
  const char* safetensors;
  DType dtype;
};

// BOOL reads as u8 (one byte per element, 0 or 1); U8 comes first so writing u8 says "U8".
constexpr DTypeMapping kDTypes[] = {
    {"F32", DType::kF32},         {"F16", DType::kF16}, {"BF16", DType::kBF16},
    {"F8_E4M3", DType::kFP8E4M3}, {"I8", DType::kI8},   {"U8", DType::kU8},
    {"I32", DType::kI32},         {"I64", DType::kI64}, {"BOOL", DType::kU8},
};

// A read-only mapping of a whole file, unmapped when the last tensor viewing it is gone.
class Mapping {
 public:
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  ~Mapping() { munmap(addr_, size_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const char* data() const { return static_cast<const char*>(addr_); }

 private:
  void* addr_;
  size_t size_;
};

absl::Status FileError(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::StatusOr<std::shared_ptr<Mapping>> MapFile(const std::string& path, int64_t& size) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size < kLengthBytes) {
    close(fd);
    return FileError(path, absl::StrCat("truncated: ", st.st_size,
                                        " bytes, too short for the 8-byte header length"));
  }
  size = st.st_size;
  void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  close(fd);  // the mapping keeps the file open
  if (addr == MAP_FAILED) {
    return absl::InternalError(absl::StrCat(path, ": mmap failed: ", std::strerror(mmap_errno)));
  }
  return std::make_shared<Mapping>(addr, size);
}

uint64_t ReadLittleEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

DType DTypeFromSafetensors(const std::string& name) {
  for (const DTypeMapping& d : kDTypes) {
    if (name == d.safetensors) return d.dtype;
  }
  return DType::kInvalid;
}

std::string SafetensorsDTypeName(DType dtype) {
  for (const DTypeMapping& d : kDTypes) {
    if (dtype == d.dtype) return d.safetensors;
  }
  return "";
}

absl::StatusOr<std::shared_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  int64_t size = 0;
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Mapping> mapping, MapFile(path, size));
  const uint64_t header_bytes = ReadLittleEndian64(mapping->data());
  if (header_bytes > static_cast<uint64_t>(size - kLengthBytes)) {
    return FileError(
        path, absl::StrCat("header length ", header_bytes, " runs past the end of ", "the file (",
                           size, " bytes; truncated or not safetensors)"));
  }
  const int64_t data_start = kLengthBytes + static_cast<int64_t>(header_bytes);
  SY_ASSIGN_OR_RETURN(
      SafetensorsHeader header,
      ParseSafetensorsHeader(path, std::string(mapping->data() + kLengthBytes, header_bytes),
                             size - data_start));
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->tensors_ = std::move(header.tensors);
  file->metadata_ = std::move(header.metadata);
  // The Buffer never writes: tensors from a PROT_READ mapping are read-only by contract.
  void* data = const_cast<char*>(mapping->data() + data_start);
  file->data_ = Buffer::Wrap(data, size - data_start, std::move(mapping));
  return file;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

absl::StatusOr<TensorInfo> SafetensorsFile::Info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor '", name, "'"));
  }
  return it->second;
}

absl::StatusOr<Tensor> SafetensorsFile::Get(const std::string& name) const {
  SY_ASSIGN_OR_RETURN(TensorInfo info, Info(name));
  return Tensor::FromBuffer(data_, info.begin, info.shape, info.dtype);
}

}  // namespace sy
