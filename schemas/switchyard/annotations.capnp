# Annotations a component config schema uses to describe its fields to the host.
#
# The host reads them from the schema nodes a plugin exports: `min`/`max` bound numeric
# fields (inclusive), `doc` is the one-line help `switchyard plugins --describe` prints.
# The ids are fixed: the host recognises annotations by them (core/config/annotations.h).
@0xf25ebb3279ddb2ab;

$import "/capnp/c++.capnp".namespace("sy::schema");

annotation min @0x8d5072784a57c001 (field) :Float64;
annotation max @0x98a5fb229b84363a (field) :Float64;
annotation doc @0xd7ea0f5e670bf541 (field, struct, enum, enumerant) :Text;
