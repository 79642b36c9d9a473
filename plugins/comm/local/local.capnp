@0xe168852713817ca4;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct LocalConfig $Sy.doc("A world of one rank: all-to-all copies send to recv, all-reduce leaves the data as it is") {
}
