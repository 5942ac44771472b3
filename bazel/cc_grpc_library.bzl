"""cc_grpc_library: C++ gRPC stubs for one proto_library.

Runs protoc with grpc_cpp_plugin over the proto_library's ProtoInfo (reading
its dependencies from their descriptor sets) and compiles the stubs. Works
the same with Debian's plugin (--config=system) and gRPC's own. Messages come
from the cc_proto_library passed in `deps`.

    cc_grpc_library(
        name = "webhook_service_cc_grpc",
        srcs = [":webhook_service_proto"],
        deps = [":webhook_service_cc_proto"],
    )
"""

_OUT_DIR = "_grpc"

def _grpc_cpp_codegen_impl(ctx):
    proto_info = ctx.attr.proto[ProtoInfo]
    root = proto_info.proto_source_root
    headers = []
    sources = []
    import_paths = []
    for src in proto_info.direct_sources:
        path = src.path
        if root and root != "." and path.startswith(root + "/"):
            path = path[len(root) + 1:]
        import_paths.append(path)
        stem = path[:-len(".proto")]
        headers.append(ctx.actions.declare_file("%s/%s.grpc.pb.h" % (_OUT_DIR, stem)))
        sources.append(ctx.actions.declare_file("%s/%s.grpc.pb.cc" % (_OUT_DIR, stem)))
    out_root = headers[0].path[:-len(import_paths[0][:-len(".proto")] + ".grpc.pb.h") - 1]
    descriptors = proto_info.transitive_descriptor_sets.to_list()
    args = ctx.actions.args()
    args.add("--plugin=protoc-gen-grpc=" + ctx.executable._plugin.path)
    args.add("--grpc_out=" + out_root)
    args.add("--descriptor_set_in=" + ":".join([d.path for d in descriptors]))
    args.add_all(import_paths)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = descriptors,
        tools = [ctx.attr._plugin[DefaultInfo].files_to_run],
        outputs = headers + sources,
        mnemonic = "GrpcCppCodegen",
        progress_message = "Generating gRPC stubs for %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset(headers + sources)),
        OutputGroupInfo(headers = depset(headers), sources = depset(sources)),
    ]

_grpc_cpp_codegen = rule(
    implementation = _grpc_cpp_codegen_impl,
    attrs = {
        "proto": attr.label(mandatory = True, providers = [ProtoInfo]),
        "_protoc": attr.label(
            default = "@com_google_protobuf//:protoc",
            executable = True,
            cfg = "exec",
        ),
        "_plugin": attr.label(
            default = "@com_github_grpc_grpc//src/compiler:grpc_cpp_plugin",
            executable = True,
            cfg = "exec",
        ),
    },
)

def cc_grpc_library(name, srcs, deps, visibility = None, **kwargs):
    """The stubs of the one proto_library in `srcs`, as a cc_library."""
    if len(srcs) != 1:
        fail("cc_grpc_library takes exactly one proto_library")
    codegen = name + "_codegen"
    _grpc_cpp_codegen(name = codegen, proto = srcs[0], visibility = ["//visibility:private"])
    native.filegroup(name = codegen + "_headers", srcs = [":" + codegen], output_group = "headers")
    native.filegroup(name = codegen + "_sources", srcs = [":" + codegen], output_group = "sources")
    native.cc_library(
        name = name,
        srcs = [":" + codegen + "_sources"],
        hdrs = [":" + codegen + "_headers"],
        strip_include_prefix = _OUT_DIR,
        copts = ["-w"],
        deps = deps + ["@com_github_grpc_grpc//:grpc++"],
        visibility = visibility,
        **kwargs
    )
