@0xd71fb98f9c76b3bd;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct PcieConfig $Sy.doc("Ranks on one host exchange through POSIX shared memory, CUDA tensors staged through it as pinned host memory") {
  chunkKb @0 :UInt32 = 4096 $Sy.min(4) $Sy.max(1048576) $Sy.doc("KiB of one shared-memory slot; each rank holds two per peer, and larger messages move in chunks of this size");
  spinIterations @1 :UInt32 = 2000 $Sy.max(100000000) $Sy.doc("polls of the shared flags before a waiting rank sleeps on a futex (lower: less CPU, more latency)");
}
