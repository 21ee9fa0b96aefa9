#!/bin/sh
# 0005: `make install` into a staging directory, then build the example custom operator the way
# the README says, with its own build line, against the INSTALLED headers (pkg-config only), and
# run a job that loads it with dlopen through the installed sluice binary, with no
# LD_LIBRARY_PATH. The keyed-state-and-timers example (sessions.c) is built the same way by
# examples/operators/Makefile.example, and its example job prints exactly its expected output. pkg-config --static lists every library a static link needs (a program
# embedding a job links against libsluice.a with them), and a load error names the library as
# the job file does.
. "$(dirname "$0")/lib/common.sh"
needs make pkg-config

DEST="$T/stage"
# The installation directories of this build (make check exports them; distcheck changes them).
: "${sl_bindir:=/usr/local/bin}" "${sl_libdir:=/usr/local/lib}" "${sl_includedir:=/usr/local/include}"
: "${sl_mandir:=/usr/local/share/man}"
make -C "$top_builddir" install DESTDIR="$DEST" >"$T/install.log" 2>&1 || { tail -20 "$T/install.log"; fail "make install failed"; }
for f in "$sl_bindir/sluice" "$sl_includedir/sluice/sluice.h" "$sl_includedir/sluice/operator.h" \
         "$sl_libdir/pkgconfig/sluice.pc" "$sl_libdir/libsluice.a" "$sl_mandir/man1/sluice.1" \
         "$sl_mandir/man5/sluice-job.5"; do
    [ -e "$DEST$f" ] || fail "make install did not install $f"
done
ls "$DEST$sl_libdir"/libsluice.so* >/dev/null 2>&1 || fail "no shared libsluice installed"

export PKG_CONFIG_PATH="$DEST$sl_libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$DEST"
say "pkg-config: $(pkg-config --cflags sluice) $(pkg-config --libs sluice)"

# A static link of libsluice needs every library behind libsluice.a: --static lists them, and
# a program that embeds a job links against the archive with the libraries of Requires.private
# and Libs.private and nothing else. (Their own dependencies are linked shared: a fully static
# link needs static libcurl's dependencies, which the system may not have.)
static_libs=$(pkg-config --static --libs sluice)
say "pkg-config --static: $static_libs"
for l in -lprotobuf-c -llz4 -lzstd -lz -lsnappy -lyaml -lsqlite3 -ljansson; do
    case " $static_libs " in *" $l "*) ;; *) fail "pkg-config --static --libs sluice lacks $l" ;; esac
done
cat >"$T/embed.c" <<'C'
#include <stdio.h>
#include <sluice/sluice.h>
int main(int argc, char **argv) {
    /* sl_job_new pulls every connector (and so every codec) into the link. */
    char err[512];
    sl_conf_t *conf = sl_conf_new();
    sl_job_t *job = argc > 1 && sl_conf_load_file(conf, argv[1], err, sizeof(err)) == SL_OK
                        ? sl_job_new(conf, err, sizeof(err)) : NULL;
    printf("sluice %s\n", sl_version());
    if (job)
        sl_job_destroy(job);
    else
        sl_conf_destroy(conf);
    return 0;
}
C
# shellcheck disable=SC2086
private_libs="$(pkg-config --libs $(pkg-config --print-requires-private sluice)) $(sed -n 's/^Libs.private://p' "$DEST$sl_libdir/pkgconfig/sluice.pc")"
# A sanitizer build's archive holds instrumented objects: link with the compiler and flags that
# built it (configure --enable-asan/--enable-ubsan builds with clang).
if [ -n "${SL_SANITIZERS:-}" ]; then link_cc="clang $SL_SANITIZERS"; else link_cc=${CC:-cc}; fi
# shellcheck disable=SC2086
$link_cc -std=gnu11 $(pkg-config --cflags sluice) -o "$T/embed" "$T/embed.c" \
    "$DEST$sl_libdir/libsluice.a" $private_libs \
    >"$T/static.log" 2>&1 || { cat "$T/static.log"; fail "a static link with pkg-config --static fails"; }
"$T/embed" | grep -q "^sluice " || fail "the statically linked program does not run"

# The README's own steps, as written: its build line, run in the operator's directory, and a
# job naming ./libalerts.so run by the installed sluice, the operator found with no
# LD_LIBRARY_PATH or rpath. The installed sluice links the shared libsluice (the CLI is a client
# of the public API): a staged install is not where its rpath points, so LD_LIBRARY_PATH names
# the staged libdir, for libsluice.so only (the operator's .so names no library).
isluice() { env LD_LIBRARY_PATH="$DEST$sl_libdir" "$DEST$sl_bindir/sluice" "$@"; }
readme_cc=$(grep '^cc -shared -fPIC \$(pkg-config --cflags sluice) alerts.c' "$top_srcdir/README.md")
[ -n "$readme_cc" ] || fail "README.md has no build line for the example operator"
say "README: $readme_cc"
mkdir "$T/user"
cp "$top_srcdir/examples/operators/alerts.c" "$T/user/"
(cd "$T/user" && eval "$readme_cc") || fail "the README's build line fails against the installed library"

printf '{"user":"ann","level":"error"}\n{"user":"bob","level":"info"}\n{"user":"ann","level":"error"}\n{"user":"ann","level":"error"}\n' >"$T/user/in.jsonl"
cat >"$T/user/job.properties" <<P
job.name=alerts
task.inputs=in.s
task.outputs=out.s
task.operators=bykey,alerts
systems.in.samza.factory=file
systems.in.streams.s.path=in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=out.jsonl
systems.out.streams.s.format=json
operators.bykey.type=rekey
operators.bykey.expr=json_extract(payload, '\$.user')
operators.alerts.library=./libalerts.so
operators.alerts.threshold=3
job.checkpoint.sqlite.path=ckpt.db
P
(cd "$T/user" && isluice run job.properties) 2>"$T/run.err" \
    || { cat "$T/run.err"; fail "the job with the user operator failed"; }
cp "$T/user/out.jsonl" "$T/out.jsonl"
say "output: $(wc -l <"$T/out.jsonl") lines"
contains "$T/out.jsonl" '"alert":"true"'
[ "$(grep -c '"alert":"true"' "$T/out.jsonl")" = 1 ] || fail "expected exactly one alert for key ann"
[ "$(grep -vc '"alert":"true"' "$T/out.jsonl")" = 4 ] || fail "expected the 4 input records passed through"

# A wrong library path is a configuration error naming the key and the loader's reason.
sed "s#^operators.alerts.library=.*#operators.alerts.library=$T/user/nope.so#" "$T/user/job.properties" >"$T/bad.properties"
expect_exit 3 isluice config check "$T/bad.properties" 2>"$T/bad.err"
contains "$T/bad.err" "operators.alerts.library"
contains "$T/bad.err" "nope.so"
# A library that is there but cannot be loaded is named as the job file does, not ././x.so.
echo "not a library" >"$T/user/libbroken.so"
sed "s#^operators.alerts.library=.*#operators.alerts.library=./libbroken.so#" "$T/user/job.properties" >"$T/user/broken.properties"
(cd "$T/user" && expect_exit 3 isluice config check broken.properties) 2>"$T/broken.err"
contains "$T/broken.err" "cannot load operator library './libbroken.so'"
lacks "$T/broken.err" "././"

# The sessions example as its job file says: Makefile.example (every example operator, warnings
# as errors) in a copy of examples/, then examples/jobs/sessions.properties run from the top of
# that copy, which finds ../operators/libsessions.so next to the job file. Its output is exactly
# examples/data/expected-sessions.jsonl (every session, closed by event time), and a second run
# prints nothing (the checkpoint holds the offsets, and no session is left open).
mkdir -p "$T/ex/examples"
cp -r "$top_srcdir/examples/operators" "$top_srcdir/examples/jobs" "$top_srcdir/examples/data" "$T/ex/examples/"
chmod -R u+w "$T/ex"
rm -rf "$T/ex/examples/operators"/*.so "$T/ex/examples/operators/.libs"
make -C "$T/ex/examples/operators" -f Makefile.example CFLAGS="-O2 -g -Wall -Wextra -Werror" \
    >"$T/example-make.log" 2>&1 || { cat "$T/example-make.log"; fail "make -f Makefile.example fails against the installed library"; }
for so in libalerts.so libcounter.so libsessions.so; do
    [ -f "$T/ex/examples/operators/$so" ] || fail "Makefile.example did not build $so"
done
(cd "$T/ex" && isluice run examples/jobs/sessions.properties) >"$T/sessions.out" 2>"$T/sessions.err" \
    || { cat "$T/sessions.err"; fail "the sessions example job failed"; }
diff -u "$top_srcdir/examples/data/expected-sessions.jsonl" "$T/sessions.out" \
    || fail "the sessions example's output differs from examples/data/expected-sessions.jsonl"
(cd "$T/ex" && isluice run examples/jobs/sessions.properties) >"$T/sessions2.out" 2>"$T/sessions2.err" \
    || { cat "$T/sessions2.err"; fail "the sessions example job failed on its second run"; }
[ ! -s "$T/sessions2.out" ] || { cat "$T/sessions2.out"; fail "the second run of the sessions example printed sessions again"; }
say "sessions example: $(wc -l <"$T/sessions.out") sessions, as expected; nothing on a second run"
say "ok"
