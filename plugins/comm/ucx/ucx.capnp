@0xc433881bac6f28bb;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct UcxCommConfig $Sy.doc("expert-parallel all-to-all over UCX (InfiniBand, TCP, shared memory), across hosts") {
  transports @0 :Text = "tcp,sm,self"
      $Sy.doc("UCX transports as UCX_TLS spells them (e.g. \"rc,sm,self\", \"tcp\"); empty: UCX's own choice or $UCX_TLS");
  devices @1 :Text = ""
      $Sy.doc("network devices as UCX_NET_DEVICES spells them (e.g. \"mlx5_0:1\", \"eth0\"); empty: all");
}
