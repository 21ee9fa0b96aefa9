#!/bin/sh
# 0039: the checkpoint store failing while a job runs is exit code 4 (sluice(1)), with the
# store's path and SQLite's reason said plainly. The store lives on a small tmpfs in a mount
# namespace of the job's own (unshare -m), so the test can fill that disk under the running
# job: exit 4 (it was 1), naming the store's path and saying "the disk is full".
. "$(dirname "$0")/lib/common.sh"
needs python3 unshare nsenter

[ "$(id -u)" = 0 ] || { echo "# SKIP: needs root (tmpfs in a mount namespace)"; exit 77; }

mkdir -p "$T/in" "$T/store"
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        f.write("{\"n\": %d}\n" % i)' "$T/in/a.jsonl"

job() { # job NAME: a follow job whose checkpoints go to $T/store/NAME.db, committing often
    cat <<P
job.name=$1
task.inputs=files.in
task.outputs=out.lines
task.commit.ms=100ms
job.checkpoint.sqlite.path=$T/store/$1.db
systems.files.samza.factory=file
systems.files.streams.in.path=$T/in
systems.files.streams.in.follow=true
systems.files.streams.in.poll.interval=20ms
systems.out.samza.factory=file
systems.out.streams.lines.path=$T/$1.out
P
}

# run_in_ns NAME ACTION: runs the job in its own mount namespace with a 1 MiB tmpfs on
# $T/store; once it wrote output, ACTION (full) breaks the store and more input arrives.
# Prints the exit code.
run_in_ns() {
    job "$1" >"$T/$1.properties"
    unshare -m --propagation private sh -c '
        mount -t tmpfs -o size=1m tmpfs "$1" || exit 90
        echo $$ >"$2.nspid"
        exec "$3" run "$2.properties"' sh "$T/store" "$T/$1" "$SLUICE" >"$T/$1.log" 2>&1 &
    _p=$!
    wait_for 20 test -s "$T/$1.nspid" || { cat "$T/$1.log"; fail "$1: the namespace did not start"; }
    wait_for 30 test -s "$T/$1.out" || { cat "$T/$1.log"; fail "$1: no output"; }
    _ns=$(cat "$T/$1.nspid")
    case $2 in
    # -r -w: the job's root and directory too. Entering a mount namespace alone moves to the
    # namespace's own root, which is not ours when the suite runs in a chroot.
    full) nsenter -t "$_ns" -m -r -w sh -c "dd if=/dev/zero of='$T/store/filler' bs=4k 2>/dev/null
            test -s '$T/store/filler'" || fail "$1: could not fill the job's store" ;;
    esac
    # More input, so that there is something new to checkpoint.
    python3 -c '
import sys
with open(sys.argv[1], "a") as f:
    for i in range(2000, 2100):
        f.write("{\"n\": %d}\n" % i)' "$T/in/a.jsonl"
    _end=$(($(date +%s) + 30))
    while kill -0 "$_p" 2>/dev/null; do
        [ "$(date +%s)" -lt "$_end" ] || { kill -9 "$_p"; cat "$T/$1.log"; fail "$1: the job did not stop after its store broke"; }
        sleep 0.1
    done
    _rc=0; wait "$_p" || _rc=$?
    echo "$_rc"
}

rc=$(run_in_ns full full)
say "disk full: exit $rc: $(tail -n 1 "$T/full.log")"
[ "$rc" = 4 ] || { cat "$T/full.log"; fail "disk full: exit $rc, expected 4"; }
contains "$T/full.log" "$T/store/full.db"
contains "$T/full.log" "the disk is full"

