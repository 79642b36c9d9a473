# Rank control: how the ranks of an expert-parallel group find each other. Rank 0 serves
# RankControl at MASTER_ADDR:MASTER_PORT; every rank (rank 0 too) connects, joins, and then runs
# the group's out-of-band collectives through the Session it got back. The session is tied to
# the connection: when a rank's connection drops, rank 0 fails every collective of the group,
# naming that rank.
@0x8ddbdfc4603c47b1;

$import "/capnp/c++.capnp".namespace("sy::rpc");

# One process of the group.
struct Member {
  rank @0 :Int32;
  hostname @1 :Text;
  pid @2 :Int64;
}

enum Collective {
  unspecified @0;
  allGather @1;   # every rank's bytes, in rank order (the same size on every rank)
  broadcast @2;   # rank 0's bytes (the others give none)
  barrier @3;     # nothing; returns once every rank has arrived
}

interface RankControl {
  # Joins as `member`; returns once all `worldSize` ranks have joined, with every member in
  # rank order and the id (chosen by rank 0) that names the group's shared resources. Every
  # rank must give the same worldSize.
  join @0 (member :Member, worldSize :Int32)
       -> (session :Session, members :List(Member), groupId :Text);
}

interface Session {
  # Collective number `sequence` (0, 1, ... on every rank): returns once every rank has made
  # it, or fails naming the ranks that did not (timed out, disconnected, or called another
  # collective). For allGather, `result` holds every rank's data; for broadcast, rank 0's.
  collective @0 (sequence :UInt64, kind :Collective, data :Data) -> (result :List(Data));
  # Leaves the group cleanly; the connection may close afterwards without failing anyone.
  leave @1 ();
}
