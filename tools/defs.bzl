"""Build macros shared by the project's packages."""

def layering_sources():
    """Exports this package's C++ sources to the checks in //tools."""
    native.filegroup(
        name = "cc_sources",
        srcs = native.glob(["**/*.h", "**/*.cc"]),
        visibility = ["//tools:__pkg__"],
    )
