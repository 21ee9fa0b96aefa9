#!/bin/sh
# 0005: `make install` into a staging directory, then build the example custom operator the way
# a user would, against the INSTALLED headers and library with pkg-config only, and run a job
# that loads it with dlopen through the installed sluice binary.
. "$(dirname "$0")/lib/common.sh"

command -v pkg-config >/dev/null || fail "pkg-config is required (tools/deps.sh installs it)"
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
cflags=$(pkg-config --cflags sluice)
libs=$(pkg-config --libs sluice)
say "pkg-config: $cflags $libs"
mkdir "$T/user"
cp "$top_srcdir/examples/operators/alerts.c" "$T/user/"
# shellcheck disable=SC2086
${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -shared -fPIC $cflags -o "$T/user/libalerts.so" "$T/user/alerts.c" $libs \
    || fail "the example operator does not build against the installed library"

printf '{"user":"ann","level":"error"}\n{"user":"bob","level":"info"}\n{"user":"ann","level":"error"}\n{"user":"ann","level":"error"}\n' >"$T/in.jsonl"
cat >"$T/job.properties" <<P
job.name=alerts
task.inputs=in.s
task.outputs=out.s
task.operators=bykey,alerts
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
systems.out.streams.s.format=json
operators.bykey.type=rekey
operators.bykey.expr=json_extract(payload, '\$.user')
operators.alerts.library=$T/user/libalerts.so
operators.alerts.threshold=3
job.checkpoint.sqlite.path=$T/ckpt.db
P
LD_LIBRARY_PATH="$DEST$sl_libdir" "$DEST$sl_bindir/sluice" run "$T/job.properties" 2>"$T/run.err" \
    || { cat "$T/run.err"; fail "the job with the user operator failed"; }
say "output: $(wc -l <"$T/out.jsonl") lines"
contains "$T/out.jsonl" '"alert":"true"'
[ "$(grep -c '"alert":"true"' "$T/out.jsonl")" = 1 ] || fail "expected exactly one alert for key ann"
[ "$(grep -vc '"alert":"true"' "$T/out.jsonl")" = 4 ] || fail "expected the 4 input records passed through"

# A wrong library path is a configuration error naming the key and the loader's reason.
sed "s#^operators.alerts.library=.*#operators.alerts.library=$T/user/nope.so#" "$T/job.properties" >"$T/bad.properties"
expect_exit 3 "$DEST$sl_bindir/sluice" config check "$T/bad.properties" 2>"$T/bad.err"
contains "$T/bad.err" "operators.alerts.library"
contains "$T/bad.err" "nope.so"
say "ok"
