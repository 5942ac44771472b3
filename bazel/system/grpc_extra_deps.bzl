"""grpc_extra_deps() of the Debian stand-in for gRPC: nothing to add."""

def grpc_extra_deps():
    pass
