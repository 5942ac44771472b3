"""The external dependencies of paradym-webhooks, in one of two modes.

upstream (the default): pinned archives. gRPC 1.51.1 (the last line that
builds with Bazel 4) and, through its own grpc_deps(), the protobuf, Abseil,
BoringSSL, GoogleTest and Google Benchmark versions that release was tested
with, pinned by sha256 in gRPC's bazel/grpc_deps.bzl; RapidJSON, Boost (for
Beast), SQLite and cnats (for the JetStream store) pinned here.

system (`--config=system`, which sets --repo_env=PARADYM_DEPS=system):
Debian 12's packages wrapped in repositories with the upstream names and
target labels, so the BUILD files are the same in both modes and nothing is
downloaded. The gRPC stand-in's grpc_deps() declares the other stand-ins.
"""

load("//bazel:npm_local.bzl", "paradym_npm_local_repositories")

def _upstream(ctx):
    ctx.download_and_extract(
        url = ctx.attr.urls,
        sha256 = ctx.attr.sha256,
        stripPrefix = ctx.attr.strip_prefix,
        type = ctx.attr.type,
    )
    if ctx.attr.upstream_build_file:
        ctx.symlink(ctx.attr.upstream_build_file, "BUILD.bazel")
    if not ctx.path("WORKSPACE").exists:
        ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

def _paradym_repository_impl(ctx):
    if ctx.os.environ.get("PARADYM_DEPS", "upstream") == "system":
        system_setup(ctx)
    else:
        _upstream(ctx)

def system_setup(ctx):
    """Fills a repository from Debian's files: symlinks, then templates.

    In the templates, PKG_CONFIG(module ...) becomes the list of linker flags
    pkg-config gives for those modules.
    """
    for source, target in ctx.attr.system_symlinks.items():
        ctx.symlink(source, target)
    for template, target in ctx.attr.system_files.items():
        ctx.file(target, expand_pkg_config(ctx, ctx.read(template)))
    if not ctx.path("WORKSPACE").exists:
        ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

def expand_pkg_config(ctx, text):
    """Replaces each PKG_CONFIG(modules) in `text` with pkg-config's flags."""
    out = ""
    for _ in range(100):
        start = text.find("PKG_CONFIG(")
        if start < 0:
            return out + text
        end = text.find(")", start)
        modules = text[start + len("PKG_CONFIG("):end].split(" ")
        result = ctx.execute(["pkg-config", "--libs"] + modules)
        if result.return_code != 0:
            fail("pkg-config %s failed: %s" % (" ".join(modules), result.stderr))
        flags = [f for f in result.stdout.strip().split(" ") if f]
        out += text[:start] + repr(flags)
        text = text[end + 1:]
    fail("too many PKG_CONFIG() in a template")

_COMMON_ATTRS = {
    "urls": attr.string_list(),
    "sha256": attr.string(),
    "strip_prefix": attr.string(),
    "type": attr.string(),
    "upstream_build_file": attr.label(allow_single_file = True),
    "system_symlinks": attr.string_dict(),
    "system_files": attr.label_keyed_string_dict(allow_files = True),
}

paradym_repository = repository_rule(
    implementation = _paradym_repository_impl,
    attrs = _COMMON_ATTRS,
    environ = ["PARADYM_DEPS"],
    doc = "A dependency: a pinned archive, or Debian's package with --config=system.",
)

def paradym_webhooks_repositories():
    """Declares the dependencies; WORKSPACE then calls grpc_deps()."""
    paradym_repository(
        name = "com_github_grpc_grpc",
        urls = ["https://github.com/grpc/grpc/archive/v1.51.1.tar.gz"],
        sha256 = "b55696fb249669744de3e71acc54a9382bea0dce7cd5ba379b356b12b82d4229",
        strip_prefix = "grpc-1.51.1",
        system_files = {
            "//bazel:system/grpc.BUILD": "BUILD.bazel",
            "//bazel:system/grpc_compiler.BUILD": "src/compiler/BUILD.bazel",
            "//bazel:system/exec_wrapper.sh": "src/compiler/grpc_cpp_plugin.sh",
            "//bazel:system/grpc_deps.bzl": "bazel/grpc_deps.bzl",
            "//bazel:system/grpc_extra_deps.bzl": "bazel/grpc_extra_deps.bzl",
            "//bazel:system/empty.BUILD": "bazel/BUILD.bazel",
        },
    )
    paradym_repository(
        name = "com_github_tencent_rapidjson",
        urls = ["https://github.com/Tencent/rapidjson/archive/v1.1.0.tar.gz"],
        sha256 = "bf7ced29704a1e696fbccf2a2b4ea068e7774fa37f6d7dd4039d0787f8bed98e",
        strip_prefix = "rapidjson-1.1.0",
        upstream_build_file = "//bazel:system/rapidjson.upstream.BUILD",
        system_files = {"//bazel:system/rapidjson.BUILD": "BUILD.bazel"},
    )
    paradym_repository(
        name = "boost",
        urls = ["https://archives.boost.io/release/1.81.0/source/boost_1_81_0.tar.bz2"],
        sha256 = "71feeed900fbccca04a3b4f2f84a7c217186f28a940ed8b7ed4725986baf99fa",
        strip_prefix = "boost_1_81_0",
        upstream_build_file = "//bazel:system/boost.upstream.BUILD",
        system_files = {"//bazel:system/boost.BUILD": "BUILD.bazel"},
    )
    paradym_repository(
        name = "org_sqlite",
        urls = ["https://www.sqlite.org/2022/sqlite-amalgamation-3400100.zip"],
        sha256 = "49112cc7328392aa4e3e5dae0b2f6736d0153430143d21f69327788ff4efe734",
        strip_prefix = "sqlite-amalgamation-3400100",
        upstream_build_file = "//bazel:system/sqlite.upstream.BUILD",
        system_files = {"//bazel:system/sqlite.BUILD": "BUILD.bazel"},
    )

    # cnats, for the JetStream store (//server/store:jetstream_store). The
    # sha256 is the one Homebrew's cnats 3.4.1 formula gives for this URL
    # (homebrew-core pull request 113001); it is also what
    # `git archive --prefix=nats.c-3.4.1/ v3.4.1 | gzip -n` of nats-io/nats.c
    # gives, GitHub's recipe for its tag archives.
    paradym_repository(
        name = "com_github_nats_io_nats_c",
        urls = ["https://github.com/nats-io/nats.c/archive/refs/tags/v3.4.1.tar.gz"],
        sha256 = "a9b8a1509cbd5f4de27a0709fb61091e9118ee86ed76a69d983007bf62b13ccd",
        strip_prefix = "nats.c-3.4.1",
        upstream_build_file = "//bazel:system/nats.upstream.BUILD",
        system_files = {"//bazel:system/nats.BUILD": "BUILD.bazel"},
    )

    # buf and the Node.js example's node_modules, as npm installed them.
    paradym_npm_local_repositories()
