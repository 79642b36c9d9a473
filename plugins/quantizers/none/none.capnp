@0xf44059d5026550ae;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct NoneConfig $Sy.doc("no quantization: weights stored in a float format, activations f32") {
  dtype @0 :StorageType = bf16 $Sy.doc("how weights are stored");

  enum StorageType {
    bf16 @0;
    f16 @1;
    f32 @2;
  }
}
