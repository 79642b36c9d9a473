@0xac9251511a0b1265;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct CpuExpertsConfig $Sy.doc("reference MoE experts on the CPU: any stored format, OpenBLAS GEMMs") {
  threads @0 :UInt32 = 0 $Sy.max(4096)
      $Sy.doc("threads for dequantization and gathering (0: the caller's thread budget)");
}
