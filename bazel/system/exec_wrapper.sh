#!/bin/sh
# Runs the Debian tool this wrapper is named after (protoc.sh, grpc_cpp_plugin.sh).
name="$(basename "$0" .sh)"
exec "/usr/bin/$name" "$@"
