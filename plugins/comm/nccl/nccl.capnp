@0x9c5aa74f685eaa3f;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct NcclCommConfig $Sy.doc("expert-parallel all-to-all over NCCL grouped send/recv (NVLink, PCIe, InfiniBand)") {
  maxCtas @0 :UInt32 = 0 $Sy.max(64)
      $Sy.doc("most CTAs NCCL's kernels use (ncclConfig_t.maxCTAs; fewer leave SMs to overlapped compute); 0: NCCL's default");
  netName @1 :Text = ""
      $Sy.doc("NCCL network plugin to use across hosts (ncclConfig_t.netName, e.g. \"IB\", \"Socket\"); empty: NCCL's choice");
}
