"""grpc_deps() of the Debian stand-in for gRPC: the other stand-ins."""

load("@paradym_webhooks//bazel:system.bzl", "paradym_system_dependencies")

def grpc_deps():
    paradym_system_dependencies()
