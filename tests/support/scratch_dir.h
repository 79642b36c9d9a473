// A scratch folder of the running test alone. CTest runs test cases in parallel processes, so a
// fixed path under TempDir() would be shared (and raced) by every case that uses it.
#ifndef SWITCHYARD_TESTS_SUPPORT_SCRATCH_DIR_H_
#define SWITCHYARD_TESTS_SUPPORT_SCRATCH_DIR_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace sy::testing_support {

// <TempDir>/sy<pid>.<n>, created empty; short, because Lua cuts chunk names (script paths in
// error messages) at 60 characters.
inline std::string ScratchDir() {
  static int count = 0;
  std::string root = ::testing::TempDir();
  if (!root.empty() && root.back() == '/') root.pop_back();
  const std::string dir = root + "/sy" + std::to_string(getpid()) + "." + std::to_string(++count);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// ScratchDir() owned for a scope: removed, with everything in it, on destruction.
class ScopedScratchDir {
 public:
  ScopedScratchDir() : path_(ScratchDir()) {}
  ~ScopedScratchDir() { std::filesystem::remove_all(path_); }
  ScopedScratchDir(const ScopedScratchDir&) = delete;
  ScopedScratchDir& operator=(const ScopedScratchDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace sy::testing_support

#endif  // SWITCHYARD_TESTS_SUPPORT_SCRATCH_DIR_H_
