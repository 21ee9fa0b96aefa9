#!/usr/bin/env python3
"""include-rule.py [--srcdir DIR] [--builddir DIR]: the include rule of sluice's plugins.

A built-in connector (connectors/<name>/) and a built-in operator (operators/) are written
against the public API (include/sluice/), the generic helpers (util/, aws/) and their own
folder only: never a runtime-private header (runtime/) nor another connector's header. This
scans every #include of their .c and .h files, resolves each name the way the compiler does
(the including file's directory first for "..." includes, then each -I directory of
Makefile.am's AM_CPPFLAGS in order) and prints file:line for each include that breaks the
rule. Exit status 1 when one does, 0 when none, 2 on a usage error.
"""
import os
import re
import sys


def cppflags_dirs(srcdir, builddir):
    text = open(os.path.join(srcdir, "Makefile.am")).read().replace("\\\n", " ")
    m = re.search(r"^AM_CPPFLAGS\s*=(.*)$", text, re.M)
    if not m:
        sys.exit("include-rule: no AM_CPPFLAGS in %s/Makefile.am" % srcdir)
    dirs = []
    for flag in m.group(1).split():
        if not flag.startswith("-I"):
            continue
        d = flag[2:]
        if d.startswith("$(top_srcdir)"):
            dirs.append(os.path.join(srcdir, d[len("$(top_srcdir)"):].lstrip("/")))
        elif d.startswith("$(top_builddir)") and builddir:
            dirs.append(os.path.join(builddir, d[len("$(top_builddir)"):].lstrip("/")))
    return dirs


def owner(rel):
    """The plugin a source-relative path belongs to: ('connector', name), ('operators', None),
    ('runtime', None) or (None, None)."""
    parts = rel.split(os.sep)
    if len(parts) >= 3 and parts[0] == "connectors":
        return ("connector", parts[1])
    if parts[0] in ("operators", "runtime"):
        return (parts[0], None)
    return (None, None)


def relative(path, roots):
    path = os.path.realpath(path)
    for root in roots:
        root = os.path.realpath(root)
        if path.startswith(root + os.sep):
            return os.path.relpath(path, root)
    return None


def main(argv):
    srcdir, builddir = ".", None
    i = 1
    while i < len(argv):
        if argv[i] in ("--srcdir", "--builddir") and i + 1 < len(argv):
            if argv[i] == "--srcdir":
                srcdir = argv[i + 1]
            else:
                builddir = argv[i + 1]
            i += 2
        else:
            print(__doc__.strip(), file=sys.stderr)
            return 2
    dirs = cppflags_dirs(srcdir, builddir)
    roots = [srcdir] + ([builddir] if builddir else [])
    inc = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
    files = []
    for top in ("connectors", "operators"):
        for d, _, names in os.walk(os.path.join(srcdir, top)):
            files += [os.path.join(d, n) for n in sorted(names) if n.endswith((".c", ".h"))]
    bad = 0
    for f in sorted(files):
        me = owner(os.path.relpath(f, srcdir))
        with open(f, errors="replace") as fp:
            for lineno, line in enumerate(fp, 1):
                m = inc.match(line)
                if not m:
                    continue
                quote, name = m.groups()
                search = ([os.path.dirname(f)] if quote == '"' else []) + dirs
                found = next((os.path.join(d, name) for d in search
                              if os.path.isfile(os.path.join(d, name))), None)
                if not found:
                    continue  # a system or generated header
                rel = relative(found, roots)
                if rel is None:
                    continue
                kind, name_of = owner(rel)
                why = None
                if kind == "runtime":
                    why = "the runtime-private header"
                elif kind == "connector" and (me[0] != "connector" or name_of != me[1]):
                    why = "connector %s's header" % name_of
                if why:
                    print("%s:%d: includes %s %s (%s%s%s); use <sluice/...> or util/ instead"
                          % (os.path.relpath(f, srcdir), lineno, why, rel, quote, name,
                             '"' if quote == '"' else ">"))
                    bad += 1
    if bad:
        print("include-rule: %d include(s) break the plugin include rule" % bad)
        return 1
    print("include-rule: %d files of connectors/ and operators/ checked" % len(files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
