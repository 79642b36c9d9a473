@0x930fb8ba9d307501;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct FcfsConfig $Sy.doc("First come, first served: whole prompts in arrival order; prefill steps and decode steps apart") {
  maxBatchTokens @0 :UInt32 = 4096 $Sy.min(1) $Sy.doc("prompt tokens in one prefill step");
  maxNumSeqs @1 :UInt32 = 256 $Sy.min(1) $Sy.doc("sequences in one step");
}
