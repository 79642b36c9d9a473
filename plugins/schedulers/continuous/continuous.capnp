@0x8f188359b3cbceb1;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct ContinuousConfig $Sy.doc("Continuous batching: requests join and leave between steps, prompts prefill in chunks under a per-step token budget") {
  maxBatchTokens @0 :UInt32 = 2048 $Sy.min(1) $Sy.doc("tokens computed per step, prefill chunks and decodes together");
  maxNumSeqs @1 :UInt32 = 256 $Sy.min(1) $Sy.doc("sequences in one step");
  chunkedPrefill @2 :Bool = true $Sy.doc("split prompts longer than the remaining budget over several steps");
  priority @3 :Priority = decodeFirst $Sy.doc("which sequences take the budget first");

  enum Priority {
    decodeFirst @0;   # running sequences (decodes, unfinished prefills) first: steady inter-token latency
    prefillFirst @1;  # waiting prompts first: lower time to first token, more decode stalls
  }
}
