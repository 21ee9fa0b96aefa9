#!/bin/sh
# 0041: a user connector. sluice is installed into a prefix in $T, the example TCP line source
# (examples/connectors/tcplines.c) is built against the installed headers with pkg-config, the
# way a user would, and loaded with systems.<sys>.library. Two python clients each send lines
# on their own connection (a partition each) and read the "ack <n>" lines the connector writes
# once record n was committed; the job writes to a file sink. Checked: every acked line is in
# the output file, the output is exactly the lines sent, a plugin built for another ABI
# version is refused with an error naming the library and both versions, a plugin whose
# in_partitions_move says its partitions may move refuses a stateful operator, and one built
# for ABI version 2 still loads.
. "$(dirname "$0")/lib/common.sh"
needs make pkg-config python3

DEST="$T/stage"
: "${sl_bindir:=/usr/local/bin}" "${sl_libdir:=/usr/local/lib}" "${sl_includedir:=/usr/local/include}"
make -C "$top_builddir" install DESTDIR="$DEST" >"$T/install.log" 2>&1 || { tail -20 "$T/install.log"; fail "make install failed"; }
[ -e "$DEST$sl_includedir/sluice/system.h" ] || fail "make install did not install sluice/system.h"
export PKG_CONFIG_PATH="$DEST$sl_libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$DEST"
# The staged sluice finds the staged libsluice (and never the build tree's) by this path alone.
export LD_LIBRARY_PATH="$DEST$sl_libdir"

mkdir "$T/user"
cp "$top_srcdir/examples/connectors/tcplines.c" "$top_srcdir/examples/connectors/Makefile.example" "$T/user/"
if [ -n "${SL_SANITIZERS:-}" ]; then cc="clang"; else cc=${CC:-cc}; fi
(cd "$T/user" && make -f Makefile.example CC="$cc" CFLAGS="-O1 -g -Wall -Wextra -Werror") \
    >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "the example connector does not build against the installed library"; }
say "built: $(grep -- '-shared' "$T/build.log")"

port=$(free_port)
cat >"$T/user/job.properties" <<P
job.name=tcp
task.inputs=tcp.lines
task.outputs=out.s
task.commit.ms=50
systems.tcp.samza.factory=tcplines
systems.tcp.library=./libtcplines.so
systems.tcp.streams.lines.port=$port
systems.out.samza.factory=file
systems.out.streams.s.path=out.txt
job.checkpoint.sqlite.path=ckpt.db
P
# Under valgrind when it is there (memcheck: no errors, no definite leaks).
run=""
if command -v valgrind >/dev/null && [ -z "${SL_SANITIZERS:-}" ]; then
    run="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
    say "running under valgrind"
fi
(cd "$T/user" && exec $run "$DEST$sl_bindir/sluice" run job.properties) \
    >"$T/run.out" 2>"$T/run.err" &
pid=$!

cat >"$T/client.py" <<'PY'
import socket, sys, time
port, name, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
deadline = time.time() + 60
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("%s: cannot connect to 127.0.0.1:%d" % (name, port))
        time.sleep(0.1)
lines = ["%s line %d" % (name, i) for i in range(1, count + 1)]
# in two writes, the first ending mid-line, so a record spans two reads
data = "".join(l + "\n" for l in lines).encode()
s.sendall(data[:len(data) // 2]); time.sleep(0.2); s.sendall(data[len(data) // 2:])
acked, buf = 0, b""
s.settimeout(60)
while acked < count:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("%s: the connector closed after ack %d of %d" % (name, acked, count))
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        word, n = line.split()
        assert word == b"ack", line
        assert int(n) > acked, "acks go forward: %d after %d" % (int(n), acked)
        acked = int(n)
        print("%s acked %d" % (name, acked), flush=True)
for l in lines[:acked]:
    print("ACKED " + l)
s.close()
PY
python3 "$T/client.py" "$port" alpha 5 >"$T/alpha.out" 2>&1 &
ca=$!
python3 "$T/client.py" "$port" beta 7 >"$T/beta.out" 2>&1 &
cb=$!
wait "$ca" || { cat "$T/alpha.out" "$T/run.err"; fail "client alpha failed"; }
wait "$cb" || { cat "$T/beta.out" "$T/run.err"; fail "client beta failed"; }
kill -TERM "$pid"
wait "$pid" || { cat "$T/run.err"; fail "the job with the user connector did not stop cleanly"; }

# every acked line is in the output file, and the output is exactly what was sent
sed -n 's/^ACKED //p' "$T/alpha.out" "$T/beta.out" | sort >"$T/acked"
sort "$T/user/out.txt" >"$T/got"
[ "$(wc -l <"$T/acked")" = 12 ] || { cat "$T/alpha.out" "$T/beta.out"; fail "not every line was acked"; }
comm -23 "$T/acked" "$T/got" >"$T/missing"
[ ! -s "$T/missing" ] || { cat "$T/missing"; fail "acked lines missing from the output"; }
{ for i in 1 2 3 4 5; do echo "alpha line $i"; done; for i in 1 2 3 4 5 6 7; do echo "beta line $i"; done; } \
    | sort >"$T/want"
diff -u "$T/want" "$T/got" || fail "the output file is not exactly the lines sent"
# each connection's lines in order
grep '^alpha' "$T/user/out.txt" >"$T/alpha.order"
[ "$(cat "$T/alpha.order")" = "$(grep '^alpha' "$T/want" | sort -t' ' -k3n)" ] || fail "alpha's lines out of order"
say "ok: 12 lines acked and written by the user connector"

# A plugin built for another ABI version is refused, naming the library and both versions.
cat >"$T/user/old.c" <<'C'
#include <sluice/system.h>
static const char *const f[] = {"tcplines", 0};
SL_EXPORT const sl_system_plugin_t sluice_system_plugin = {.abi_version = 1, .name = "old",
                                                           .factories = f};
C
(cd "$T/user" && $cc -shared -fPIC $(pkg-config --cflags sluice) old.c -o libold.so) || fail "cannot build the old plugin"
sed 's/libtcplines.so/libold.so/' "$T/user/job.properties" >"$T/user/old.properties"
set +e
(cd "$T/user" && "$DEST$sl_bindir/sluice" run old.properties) 2>"$T/old.err"
rc=$?
set -e
cat "$T/old.err"
[ "$rc" != 0 ] || fail "a job with an old connector plugin ran"
contains "$T/old.err" "systems.tcp.library"
contains "$T/old.err" "connector library './libold.so': connector ABI version 1, but this sluice"
contains "$T/old.err" "expects version"
contains "$T/old.err" "plugin ABI version mismatch"
say "ok: an old plugin is refused"

# Partitions that may move to another process (in_partitions_move, ABI version 3): a stateful
# operator on such an input is refused at configuration with the connector's reason; a plugin
# built for version 2 has no such callback, so whatever lies there is never read.
moves_plugin() { # abi-version library
    sed -e "s/\.abi_version = SL_SYSTEM_ABI_VERSION,/.abi_version = $1, .in_partitions_move = tcp_moves,/" \
        -e '/^SL_EXPORT const sl_system_plugin_t/i static int tcp_moves(const sl_input_t *in, char *why, size_t len) {\
    snprintf(why, len, "hands its connections to other processes (%s)", sl_input_stream(in));\
    return 1;\
}' "$T/user/tcplines.c" >"$T/user/moves$1.c"
    (cd "$T/user" && $cc -shared -fPIC -Wall -Wextra -Werror $(pkg-config --cflags sluice) "moves$1.c" -o "$2" -lpthread) ||
        fail "cannot build $2"
}
moves_plugin 3 libmoves3.so
moves_plugin 2 libmoves2.so
for v in 3 2; do
    sed "s/libtcplines.so/libmoves$v.so/" "$T/user/job.properties" >"$T/user/moves$v.properties"
    printf 'task.operators=dd\noperators.dd.type=dedup\noperators.dd.key=key\noperators.dd.ttl=1h\n' \
        >>"$T/user/moves$v.properties"
done
(cd "$T/user" && expect_exit 3 "$DEST$sl_bindir/sluice" config check moves3.properties) 2>"$T/moves3.err"
contains "$T/moves3.err" "moves3.properties:12: operators.dd.type: operator 'dd' (dedup) keeps keyed state, which cannot follow a partition to another process yet, but input tcp.lines hands its connections to other processes (lines)"
(cd "$T/user" && expect_exit 0 "$DEST$sl_bindir/sluice" config check moves2.properties) >"$T/moves2.out"
contains "$T/moves2.out" "configuration is valid"
say "ok: a version 3 plugin's moving partitions refuse a stateful operator, a version 2 plugin loads"
