#include "core/distributed/rank_environment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sy {
namespace {

using ::testing::HasSubstr;
using Vars = std::map<std::string, std::string>;

std::string ErrorOf(const Vars& vars) {
  auto info = RankInfoFromVariables(vars);
  EXPECT_FALSE(info.ok()) << "no error";
  return info.ok() ? "" : std::string(info.status().message());
}

TEST(RankEnvironmentTest, NoVariablesIsAWorldOfOne) {
  auto info = RankInfoFromVariables({{"HOME", "/root"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->rank, 0);
  EXPECT_EQ(info->world_size, 1);
  EXPECT_EQ(info->local_world_size, 1);
  EXPECT_EQ(info->num_nodes, 1);
  EXPECT_EQ(info->source, "none");
  EXPECT_TRUE(info->master_addr.empty());
}

TEST(RankEnvironmentTest, ExplicitVariables) {
  auto info = RankInfoFromVariables({{"RANK", "5"},
                                     {"WORLD_SIZE", "8"},
                                     {"LOCAL_RANK", "1"},
                                     {"LOCAL_WORLD_SIZE", "4"},
                                     {"MASTER_ADDR", "10.0.0.1"},
                                     {"MASTER_PORT", "1234"},
                                     {"SWITCHYARD_GROUP_ID", "job7"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->rank, 5);
  EXPECT_EQ(info->world_size, 8);
  EXPECT_EQ(info->local_rank, 1);
  EXPECT_EQ(info->local_world_size, 4);
  EXPECT_EQ(info->node, 1);
  EXPECT_EQ(info->num_nodes, 2);
  EXPECT_EQ(info->master_addr, "10.0.0.1");
  EXPECT_EQ(info->master_port, 1234);
  EXPECT_EQ(info->group_id, "job7");
  EXPECT_EQ(info->source, "explicit");
}

TEST(RankEnvironmentTest, WithoutLocalValuesTheRanksShareOneHostOnTheDefaultPort) {
  auto info = RankInfoFromVariables({{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->local_rank, 2);
  EXPECT_EQ(info->local_world_size, 4);
  EXPECT_EQ(info->num_nodes, 1);
  EXPECT_EQ(info->master_port, kDefaultMasterPort);
}

TEST(RankEnvironmentTest, OpenMpi) {
  auto info = RankInfoFromVariables({{"OMPI_COMM_WORLD_RANK", "3"},
                                     {"OMPI_COMM_WORLD_SIZE", "4"},
                                     {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                     {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                     {"MASTER_ADDR", "head"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->rank, 3);
  EXPECT_EQ(info->local_rank, 1);
  EXPECT_EQ(info->node, 1);
  EXPECT_EQ(info->num_nodes, 2);
  EXPECT_EQ(info->source, "open-mpi");
}

TEST(RankEnvironmentTest, ExplicitVariablesWinOverTheLauncher) {
  auto info = RankInfoFromVariables({{"RANK", "0"},
                                     {"WORLD_SIZE", "1"},
                                     {"OMPI_COMM_WORLD_RANK", "3"},
                                     {"OMPI_COMM_WORLD_SIZE", "4"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->world_size, 1);
  EXPECT_EQ(info->source, "explicit");
}

TEST(RankEnvironmentTest, Pmi) {
  auto info = RankInfoFromVariables(
      {{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}, {"MASTER_ADDR", "head"}, {"MASTER_PORT", "4000"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->rank, 1);
  EXPECT_EQ(info->world_size, 2);
  EXPECT_EQ(info->local_rank, 1);
  EXPECT_EQ(info->source, "pmi");
}

TEST(RankEnvironmentTest, SlurmWithAHostRangeAndUnevenTasks) {
  auto info = RankInfoFromVariables({{"SLURM_PROCID", "4"},
                                     {"SLURM_NTASKS", "5"},
                                     {"SLURM_LOCALID", "0"},
                                     {"SLURM_NODEID", "2"},
                                     {"SLURM_NNODES", "3"},
                                     {"SLURM_TASKS_PER_NODE", "2(x2),1"},
                                     {"SLURM_NODELIST", "gpu[07-09]"},
                                     {"SLURM_JOB_ID", "123"},
                                     {"SLURM_STEP_ID", "4"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->rank, 4);
  EXPECT_EQ(info->node, 2);
  EXPECT_EQ(info->num_nodes, 3);
  EXPECT_EQ(info->local_world_size, 1);
  EXPECT_EQ(info->master_addr, "gpu07");
  EXPECT_EQ(info->master_port, 20123);
  EXPECT_EQ(info->group_id, "slurm-123.4");
  EXPECT_EQ(info->source, "slurm");
}

TEST(RankEnvironmentTest, SlurmPrefersTheLaunchNodeAddress) {
  auto info = RankInfoFromVariables({{"SLURM_PROCID", "0"},
                                     {"SLURM_NTASKS", "2"},
                                     {"SLURM_NNODES", "1"},
                                     {"SLURM_LAUNCH_NODE_IPADDR", "10.1.2.3"},
                                     {"SLURM_NODELIST", "a,b"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->master_addr, "10.1.2.3");
  EXPECT_EQ(info->local_world_size, 2);
}

TEST(RankEnvironmentTest, AnAllocationWithoutATaskIsAWorldOfOne) {
  auto info = RankInfoFromVariables({{"SLURM_NTASKS", "8"}, {"SLURM_JOB_ID", "5"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->world_size, 1);
}

TEST(RankEnvironmentTest, BadValuesNameTheVariable) {
  EXPECT_THAT(ErrorOf({{"RANK", "4"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}}),
              HasSubstr("RANK=4 must be less than WORLD_SIZE=4"));
  EXPECT_THAT(ErrorOf({{"RANK", "one"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}}),
              HasSubstr("RANK='one' is not an integer"));
  EXPECT_THAT(ErrorOf({{"RANK", "0"}, {"WORLD_SIZE", "0"}}), HasSubstr("WORLD_SIZE=0"));
  EXPECT_THAT(ErrorOf({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}), HasSubstr("RANK is not set"));
  EXPECT_THAT(ErrorOf({{"RANK", "1"}, {"WORLD_SIZE", "2"}}), HasSubstr("MASTER_ADDR is not set"));
  EXPECT_THAT(
      ErrorOf({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}),
      HasSubstr("MASTER_PORT=70000 is outside [1, 65535]"));
  EXPECT_THAT(ErrorOf({{"RANK", "1"},
                       {"WORLD_SIZE", "4"},
                       {"LOCAL_RANK", "2"},
                       {"LOCAL_WORLD_SIZE", "2"},
                       {"MASTER_ADDR", "h"}}),
              HasSubstr("LOCAL_RANK=2 must be less than LOCAL_WORLD_SIZE=2"));
  EXPECT_THAT(ErrorOf({{"SLURM_PROCID", "0"},
                       {"SLURM_NTASKS", "2"},
                       {"SLURM_TASKS_PER_NODE", "2(x"},
                       {"MASTER_ADDR", "h"}}),
              HasSubstr("SLURM_TASKS_PER_NODE='2(x'"));
  EXPECT_THAT(ErrorOf({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_NODELIST", "a[]"}}),
              HasSubstr("set MASTER_ADDR"));
}

}  // namespace
}  // namespace sy
