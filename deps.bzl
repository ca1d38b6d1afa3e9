"""geventpp's repositories, for its own WORKSPACE and for a project using it.

In the other project's WORKSPACE:

    local_repository(name = "geventpp", path = "/path/to/geventpp")
    load("@geventpp//:deps.bzl", "geventpp_dependencies")
    geventpp_dependencies(geventpp_path = "/path/to/geventpp")

It declares the offline stand-ins Bazel 4.2.3 needs (rules_cc, rules_java,
remote_coverage_tools), Protobuf (Debian's protoc and libprotobuf) and
Debian's system libraries (@system: Abseil, GoogleTest, Benchmark,
Boost.Context). A repository the project declared already is left alone.
"""

def geventpp_dependencies(geventpp_path):
    """Declares the repositories geventpp builds with.

    Args:
      geventpp_path: where geventpp is, as given to its local_repository
        (relative to the calling workspace, or absolute).
    """
    existing = native.existing_rules()
    third_party = geventpp_path + "/third_party/"
    for name in ["rules_cc", "rules_java", "remote_coverage_tools", "com_google_protobuf"]:
        if name not in existing:
            native.local_repository(name = name, path = third_party + name)
    if "system" not in existing:
        native.new_local_repository(
            name = "system",
            build_file = str(Label("//third_party/system:BUILD.system")),
            path = "/usr",
        )
