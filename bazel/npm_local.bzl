"""What npm installed in this checkout (scripts/setup.sh), seen from Bazel.

Bazel fetches nothing from npm here (it runs offline). Two tests need npm
packages: buf_lint and buf_curl_test run buf (tools/, @bufbuild/buf), and
client_examples_test runs the Node.js example with its node_modules
(client/examples/node/, @grpc/grpc-js). These repositories link to what
`npm ci` left in the checkout, as the CMake build's find_program does. When
it is missing, the targets still exist and the tests fail with
"run scripts/setup.sh", as they do under CMake.

    @paradym_buf//:buf                     the buf executable
    @paradym_node_example//:example        client/examples/node with its
                                           node_modules, in one directory
"""

_MISSING_BUF = """#!/bin/sh
echo "buf is not installed: run scripts/setup.sh" >&2
exit 1
"""

def _checkout(ctx):
    """The directory of this checkout (its WORKSPACE file)."""
    return ctx.path(Label("@paradym_webhooks//:WORKSPACE")).dirname

def _buf_impl(ctx):
    # npm installs buf's native binary as the one @bufbuild/buf-<os>-<arch>
    # package for this machine; tools/node_modules/.bin/buf is a Node.js
    # launcher for it.
    scope = _checkout(ctx).get_child("tools").get_child("node_modules").get_child("@bufbuild")
    binaries = []
    if scope.exists:
        binaries = [
            package.get_child("bin").get_child("buf")
            for package in scope.readdir()
            if package.basename.startswith("buf-") and
               package.get_child("bin").get_child("buf").exists
        ]
    if binaries:
        ctx.symlink(binaries[0], "buf")
    else:
        ctx.file("buf", _MISSING_BUF, executable = True)
    ctx.file("BUILD.bazel", 'exports_files(["buf"], visibility = ["//visibility:public"])\n')
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

paradym_buf = repository_rule(
    implementation = _buf_impl,
    local = True,
    doc = "buf from tools/node_modules, or a stand-in that says to install it.",
)

def _node_example_impl(ctx):
    example = _checkout(ctx).get_child("client").get_child("examples").get_child("node")
    for name in ["subscriber.js", "package.json"]:
        ctx.symlink(example.get_child(name), name)
    if example.get_child("node_modules").exists:
        ctx.symlink(example.get_child("node_modules"), "node_modules")
    ctx.file("BUILD.bazel", """filegroup(
    name = "example",
    srcs = ["subscriber.js", "package.json"] + glob(["node_modules/**"]),
    visibility = ["//visibility:public"],
)
""")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

paradym_node_example = repository_rule(
    implementation = _node_example_impl,
    local = True,
    doc = "client/examples/node with the node_modules npm installed there.",
)

def paradym_npm_local_repositories():
    paradym_buf(name = "paradym_buf")
    paradym_node_example(name = "paradym_node_example")
