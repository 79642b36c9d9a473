#include "core/model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/model/safetensors_writer.h"
#include "core/model/test_files.h"

namespace sy {
namespace {

using ::sy::testing_support::ScopedScratchDir;
using ::sy::testing_support::WriteFile;
using ::sy::testing_support::WriteRawSafetensors;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string OpenError(const std::string& path) {
  auto file = SafetensorsFile::Open(path);
  EXPECT_FALSE(file.ok()) << path << " opened";
  return file.ok() ? "" : std::string(file.status().message());
}

Tensor Filled(const Shape& shape, DType dtype, const std::vector<uint16_t>& raw) {
  Tensor t = *Tensor::Empty(shape, dtype);
  std::copy(raw.begin(), raw.end(), t.data<uint16_t>());
  return t;
}

TEST(SafetensorsTest, RoundTripsF32Bf16F16AndI32) {
  ScopedScratchDir dir;
  const std::string path = dir.File("model.safetensors");
  Tensor f32 = *Tensor::FromF32({2, 3}, {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f});
  Tensor bf16 = Filled({3}, DType::kBF16, {F32ToBF16(1.0f), F32ToBF16(-0.5f), F32ToBF16(3.0f)});
  Tensor f16 = Filled({2}, DType::kF16, {F32ToF16(0.25f), F32ToF16(-65504.0f)});
  Tensor i32 = *Tensor::Empty({2, 2}, DType::kI32);
  for (int i = 0; i < 4; ++i) i32.data<int32_t>()[i] = (i - 2) * 100000;
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"w.f32", f32}, {"w.bf16", bf16}, {"w.f16", f16}, {"w.i32", i32}},
                               {{"format", "pt"}})
                  .ok());

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT((*file)->names(), ElementsAre("w.bf16", "w.f16", "w.f32", "w.i32"));
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  for (const auto& [name, expected] : std::vector<std::pair<std::string, Tensor>>{
           {"w.f32", f32}, {"w.bf16", bf16}, {"w.f16", f16}, {"w.i32", i32}}) {
    Tensor got = *(*file)->Get(name);
    EXPECT_EQ(got.dtype(), expected.dtype()) << name;
    EXPECT_EQ(got.shape(), expected.shape()) << name;
    for (int64_t i = 0; i < got.numel(); ++i) EXPECT_EQ(got.Get(i), expected.Get(i)) << name;
  }
  TensorInfo info = *(*file)->Info("w.bf16");
  EXPECT_EQ(info.end - info.begin, 6);
}

TEST(SafetensorsTest, DataSectionIsEightByteAligned) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", *Tensor::FromF32({1}, {1.0f})}}).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*file)->Get("x")->raw_data()) % 8, 0u);
}

TEST(SafetensorsTest, ViewsAreZeroCopyAndOutliveTheFile) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", *Tensor::FromF32({4}, {1, 2, 3, 4})}}).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  Tensor a = *(*file)->Get("x");
  EXPECT_EQ(a.raw_data(), (*file)->Get("x")->raw_data());  // the same mapped bytes
  file->reset();                                           // the mapping must survive
  std::filesystem::remove(path);
  EXPECT_EQ(a.Get(3), 4.0);
  Tensor row = *a.SliceRows(2, 4);
  a = Tensor();
  EXPECT_EQ(row.Get(0), 3.0);
}

TEST(SafetensorsTest, MissingTensorNamesFileAndTensor) {
  ScopedScratchDir dir;
  const std::string path = dir.File("model-00001.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", *Tensor::FromF32({1}, {1.0f})}}).ok());
  auto file = *SafetensorsFile::Open(path);
  EXPECT_EQ(file->Get("y").status().message(), path + ": no tensor 'y'");
  EXPECT_FALSE(file->Info("y").ok());
}

TEST(SafetensorsTest, TruncatedDataNamesTheTensor) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"first", *Tensor::FromF32({2}, {1, 2})},
                                      {"last", *Tensor::FromF32({2}, {3, 4})}})
                  .ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr(path + ": tensor 'last'"), HasSubstr("truncated")));
}

TEST(SafetensorsTest, FileShorterThanTheLengthField) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteFile(path, "abc");
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr(path), HasSubstr("truncated")));
  WriteFile(path, "");
  EXPECT_THAT(OpenError(path), HasSubstr(path));
}

TEST(SafetensorsTest, HeaderLengthBeyondTheFile) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteFile(path, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10));
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr(path), HasSubstr("header length")));
}

TEST(SafetensorsTest, NonJsonHeader) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteRawSafetensors(path, "{\"x\": [1, 2", "");
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr(path), HasSubstr("not a JSON object")));
  WriteRawSafetensors(path, "[1, 2]", "");
  EXPECT_THAT(OpenError(path), HasSubstr("not a JSON object"));
}

TEST(SafetensorsTest, HeaderThatLiesAboutTheSize) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteRawSafetensors(path, R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})",
                      std::string(16, '\0'));
  EXPECT_THAT(OpenError(path),
              AllOf(HasSubstr(path + ": tensor 'w'"), HasSubstr("hold 12 bytes but F32[2,2]"),
                    HasSubstr("needs 16")));
}

TEST(SafetensorsTest, OffsetsPastTheDataOrReversed) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteRawSafetensors(path, R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}})",
                      std::string(10, '\0'));
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr("tensor 'w'"), HasSubstr("run past")));
  WriteRawSafetensors(path, R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}})",
                      std::string(10, '\0'));
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr("tensor 'w'"), HasSubstr("end before")));
  WriteRawSafetensors(path, R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}})",
                      std::string(10, '\0'));
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr("tensor 'w'"), HasSubstr("data_offsets")));
}

TEST(SafetensorsTest, OverlappingTensorsNameBoth) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteRawSafetensors(path,
                      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                      std::string(12, '\0'));
  EXPECT_THAT(OpenError(path), AllOf(HasSubstr(path), HasSubstr("'a' and 'b' overlap")));
}

TEST(SafetensorsTest, UnsupportedDtypeNamesTensorAndDtype) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteRawSafetensors(path, R"({"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})",
                      std::string(8, '\0'));
  EXPECT_THAT(OpenError(path), HasSubstr(path + ": tensor 'w': unsupported dtype F64"));
}

TEST(SafetensorsTest, MalformedEntries) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  const std::string data(8, '\0');
  WriteRawSafetensors(path, R"({"w": {"dtype": "F32", "shape": [2]}})", data);
  EXPECT_THAT(OpenError(path), HasSubstr("tensor 'w': missing 'data_offsets'"));
  WriteRawSafetensors(path, R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})",
                      data);
  EXPECT_THAT(OpenError(path), HasSubstr("tensor 'w': bad dimension 2.5"));
  WriteRawSafetensors(path, R"({"w": {"dtype": 7, "shape": [2], "data_offsets": [0, 8]}})", data);
  EXPECT_THAT(OpenError(path), HasSubstr("tensor 'w': 'dtype' must be a string"));
  WriteRawSafetensors(
      path, R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})",
      data);
  EXPECT_THAT(OpenError(path), HasSubstr("tensor 'w': shape"));
  WriteRawSafetensors(path, R"({"__metadata__": {"format": 1}})", "");
  EXPECT_THAT(OpenError(path), HasSubstr("'__metadata__' value of 'format'"));
}

TEST(SafetensorsTest, BoolReadsAsU8AndEmptyTensorsAreFine) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  WriteRawSafetensors(path,
                      R"({"mask": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]},
                          "none": {"dtype": "F32", "shape": [0, 4], "data_offsets": [3, 3]},
                          "__metadata__": {"format": "pt"}})",
                      std::string("\x01\x00\x01", 3));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  Tensor mask = *(*file)->Get("mask");
  EXPECT_EQ(mask.dtype(), DType::kU8);
  EXPECT_EQ(mask.Get(2), 1.0);
  EXPECT_EQ((*file)->Get("none")->numel(), 0);
}

TEST(SafetensorsWriterTest, RefusesWhatItCannotWrite) {
  ScopedScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  Tensor x = *Tensor::FromF32({1}, {1.0f});
  EXPECT_THAT(std::string(WriteSafetensors(path, {{"x", x}, {"x", x}}).message()),
              AllOf(HasSubstr(path), HasSubstr("tensor 'x'"), HasSubstr("duplicate")));
  EXPECT_THAT(
      std::string(WriteSafetensors(path, {{"q", *Tensor::Empty({2}, DType::kI4)}}).message()),
      AllOf(HasSubstr("tensor 'q'"), HasSubstr("no safetensors dtype")));
  EXPECT_FALSE(WriteSafetensors(dir.File("no/such/dir.safetensors"), {{"x", x}}).ok());
}

}  // namespace
}  // namespace sy
