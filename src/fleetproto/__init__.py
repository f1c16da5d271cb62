"""Generated gRPC/protobuf code shared by fleetplane (server) and fleetload (agent).

Regenerate with ``scripts/gen_proto.sh``; do not edit the ``*_pb2*`` modules.
"""
