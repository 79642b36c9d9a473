@0xa58e20dcd497ce53;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct Fp8Config $Sy.doc("fp8 e4m3 weights with f32 scales, dynamically scaled fp8 activations") {
  granularity @0 :Granularity = block
      $Sy.doc("what one weight scale covers: the tensor, a row, or a block x block tile");
  block @1 :UInt32 = 128 $Sy.min(1) $Sy.max(65536)
      $Sy.doc("tile edge for granularity = block (DeepSeek-V3: 128)");
  activations @2 :Activations = dynamic
      $Sy.doc("weightOnly: f32 activations; dynamic: fp8 with scales computed per call");

  enum Granularity {
    tensor @0 $Sy.doc("one scale for the whole matrix");
    channel @1 $Sy.doc("one scale per row (output channel); activations per token");
    block @2 $Sy.doc("block x block tiles; activations per (1, block) token group");
  }

  enum Activations {
    weightOnly @0;
    dynamic @1;
  }
}
