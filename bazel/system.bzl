"""Debian 12's packages as Bazel repositories with the upstream names.

Declared by the gRPC stand-in's grpc_deps() in system mode only (see
repositories.bzl). Headers come from /usr/include, libraries through
pkg-config (or explicit flags where Debian ships no .pc file).
"""

load("//bazel:repositories.bzl", "expand_pkg_config", "system_setup")

def _system_repository_impl(ctx):
    system_setup(ctx)

system_repository = repository_rule(
    implementation = _system_repository_impl,
    attrs = {
        "system_symlinks": attr.string_dict(),
        "system_files": attr.label_keyed_string_dict(allow_files = True),
    },
)

# The Abseil targets this project uses, by package: target -> pkg-config
# modules (none: header-only in Debian's build).
_ABSL = {
    "absl/base": {"core_headers": [], "base": ["absl_base"]},
    "absl/container": {
        "flat_hash_map": ["absl_flat_hash_map"],
        "flat_hash_set": ["absl_flat_hash_set"],
    },
    "absl/debugging": {
        "failure_signal_handler": ["absl_failure_signal_handler"],
        "symbolize": ["absl_symbolize"],
    },
    "absl/flags": {
        "flag": ["absl_flags"],
        "parse": ["absl_flags_parse"],
        "usage": ["absl_flags_usage"],
    },
    "absl/functional": {"any_invocable": [], "function_ref": []},
    "absl/status": {"status": ["absl_status"], "statusor": ["absl_statusor"]},
    "absl/strings": {
        "strings": ["absl_strings"],
        "cord": ["absl_cord"],
        "str_format": ["absl_str_format"],
    },
    "absl/synchronization": {"synchronization": ["absl_synchronization"]},
    "absl/time": {"time": ["absl_time"]},
}

def _system_absl_impl(ctx):
    for package, targets in _ABSL.items():
        build = 'package(default_visibility = ["//visibility:public"])\n'
        for target, modules in targets.items():
            linkopts = "[]"
            if modules:
                linkopts = expand_pkg_config(
                    ctx,
                    "PKG_CONFIG(%s)" % " ".join(modules),
                )
            build += 'cc_library(name = "%s", linkopts = %s)\n' % (target, linkopts)
        ctx.file(package + "/BUILD.bazel", build)
    ctx.file("BUILD.bazel", "")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

system_absl = repository_rule(implementation = _system_absl_impl)

_WELL_KNOWN_PROTOS = [
    "any",
    "api",
    "descriptor",
    "duration",
    "empty",
    "field_mask",
    "source_context",
    "struct",
    "timestamp",
    "type",
    "wrappers",
]

def paradym_system_dependencies():
    """Declares the stand-ins for Debian's packages."""

    # What Debian's bazel-bootstrap leaves out of Bazel 4's own WORKSPACE.
    native.local_repository(
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
    )
    native.local_repository(name = "rules_cc", path = "bazel/rules_cc")
    native.local_repository(
        name = "remote_coverage_tools",
        path = "bazel/remote_coverage_tools",
    )

    system_absl(name = "com_google_absl")
    system_repository(
        name = "com_google_protobuf",
        system_symlinks = {
            "/usr/include/google/protobuf/%s.proto" % proto: "google/protobuf/%s.proto" % proto
            for proto in _WELL_KNOWN_PROTOS
        },
        system_files = {
            "@paradym_webhooks//bazel:system/protobuf.BUILD": "BUILD.bazel",
            "@paradym_webhooks//bazel:system/exec_wrapper.sh": "protoc.sh",
        },
    )
    system_repository(
        name = "boringssl",
        system_symlinks = {"/usr/include/android/openssl": "include/openssl"},
        system_files = {"@paradym_webhooks//bazel:system/boringssl.BUILD": "BUILD.bazel"},
    )
    system_repository(
        name = "openssl",
        system_files = {"@paradym_webhooks//bazel:system/openssl.BUILD": "BUILD.bazel"},
    )
    system_repository(
        name = "com_google_googletest",
        system_files = {"@paradym_webhooks//bazel:system/googletest.BUILD": "BUILD.bazel"},
    )
    system_repository(
        name = "com_github_google_benchmark",
        system_files = {"@paradym_webhooks//bazel:system/benchmark.BUILD": "BUILD.bazel"},
    )
