@0xb13c432453f23151;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct NvlinkCommConfig $Sy.doc("one-sided writes into peers' GPU memory over NVLink (CUDA IPC), one host") {
  registeredMib @0 :UInt32 = 1024 $Sy.max(65536)
      $Sy.doc("MiB of each rank's workspace that registered_buffer hands out (receives there skip a copy)");
  stagingMib @1 :UInt32 = 1024 $Sy.max(65536)
      $Sy.doc("MiB of each rank's workspace that receives elsewhere land in before their copy out");
  allReduceKib @2 :UInt32 = 1024 $Sy.min(4) $Sy.max(1048576)
      $Sy.doc("KiB per rank of all_reduce_sum slots (larger reductions go in chunks)");
  blocks @3 :UInt32 = 0 $Sy.max(1024)
      $Sy.doc("CTAs of the copy kernel (0: from the bytes, at most one per SM)");
  peerMib @4 :UInt32 = 128 $Sy.max(65536)
      $Sy.doc("MiB of each rank's workspace that peer_memory hands out for the host's own one-sided exchanges (0: none)");
}
