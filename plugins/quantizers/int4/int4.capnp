@0xac77d3a98dbf447e;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct Int4Config $Sy.doc("asymmetric u4 weights with f32 scales and u8 zero points per group") {
  group @0 :UInt32 = 128 $Sy.min(2) $Sy.max(65536)
      $Sy.doc("consecutive elements of a row sharing one scale and zero point; must divide cols");
}
