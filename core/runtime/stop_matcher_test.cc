#include "core/runtime/stop_matcher.h"

#include <gtest/gtest.h>

namespace sy {
namespace {

TEST(StopMatcherTest, HoldsBackPartialMatches) {
  StopMatcher matcher({"</s>", "STOP"});
  EXPECT_EQ(matcher.HoldBack("abc ST"), 2u);
  EXPECT_EQ(matcher.HoldBack("abc </"), 2u);
  EXPECT_EQ(matcher.HoldBack("abc"), 0u);
  StopMatcher::Step step = matcher.Push("Hello <");
  EXPECT_EQ(step.text, "Hello ");
  EXPECT_FALSE(step.stopped);
  step = matcher.Push("b>");  // "<b>" turns out not to be a stop string
  EXPECT_EQ(step.text, "<b>");
  EXPECT_EQ(matcher.Push(" x</").text, " x");
  EXPECT_EQ(matcher.Flush(), "</");  // generation ended without the rest
}

TEST(StopMatcherTest, StopsAcrossChunksWithoutPrintingTheStopString) {
  StopMatcher matcher({"STOP", "</s>"});
  std::string printed;
  bool stopped = false;
  for (const char* chunk : {"go", " S", "T", "O", "P and more", "ignored"}) {
    StopMatcher::Step step = matcher.Push(chunk);
    printed += step.text;
    stopped |= step.stopped;
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(printed, "go ");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, EarliestStopWins) {
  StopMatcher matcher({"cd", "b"});
  StopMatcher::Step step = matcher.Push("abcd");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.text, "a");
}

TEST(StopMatcherTest, NoStopsPassesEverything) {
  StopMatcher matcher({""});
  StopMatcher::Step step = matcher.Push("text");
  EXPECT_EQ(step.text, "text");
  EXPECT_FALSE(step.stopped);
}

}  // namespace
}  // namespace sy
