#!/bin/sh
# 0001: every kind of bad configuration is refused before anything starts, with one clear error
# naming file:line, the key, what was expected and, where it helps, a "did you mean".
. "$(dirname "$0")/lib/common.sh"

base() {
    cat <<'P'
job.name=cfg
task.inputs=in.s
systems.in.samza.factory=file
systems.in.streams.s.path=/dev/null
P
}

check_one() { # name expected-exit expected-substring...
    name=$1; shift
    code=$1; shift
    expect_exit "$code" "$SLUICE" config check "$T/$name.properties" 2>"$T/$name.err" >"$T/$name.out"
    n=$(grep -c . "$T/$name.err" || true)
    [ "$n" = 1 ] || { cat "$T/$name.err"; fail "$name: expected exactly one error line, got $n"; }
    for want in "$@"; do contains "$T/$name.err" "$want"; done
    say "$name: $(cat "$T/$name.err")"
}

# An unknown key (a typo) on line 5.
{ base; echo "task.comit.ms=5s"; } >"$T/unknown.properties"
check_one unknown 3 "$T/unknown.properties:5:" "unknown property 'task.comit.ms'" "did you mean 'task.commit.ms'?"

# A bad enum value on line 5.
{ base; echo "systems.in.streams.s.samza.offset.default=oldset"; } >"$T/enum.properties"
check_one enum 3 "$T/enum.properties:5:" "systems.in.streams.s.samza.offset.default" "expected one of oldest, upcoming" "got 'oldset'" "did you mean 'oldest'?"

# A missing required key: the system named on line 2 has no factory.
printf 'job.name=cfg\ntask.inputs=nosys.s\n' >"$T/required.properties"
check_one required 3 "$T/required.properties:2:" "task.inputs" "samza.factory"

# A missing required key at top level (no line to point at: the file is named).
base | grep -v '^job.name' >"$T/noname.properties"
check_one noname 3 "$T/noname.properties: job.name: required property is missing"

# A broken \uXXXX escape on line 5.
{ base; printf 'operators.x.expr=caf\\u00zz\n'; } >"$T/escape.properties"
check_one escape 3 "$T/escape.properties:5:" '\u'

# A bad duration, a value out of bounds.
{ base; echo "task.commit.ms=soon"; } >"$T/duration.properties"
check_one duration 3 "$T/duration.properties:5:" "task.commit.ms" "expected a duration" "got 'soon'"
{ base; echo "job.container.thread.count=0"; } >"$T/bounds.properties"
check_one bounds 3 "$T/bounds.properties:5:" "job.container.thread.count" "between 1 and 256"

# An unknown system factory, with a suggestion.
{ base | sed 's/samza.factory=file/samza.factory=fiel/'; } >"$T/factory.properties"
check_one factory 3 "$T/factory.properties:3:" "unknown system factory 'fiel'" "did you mean 'file'?"

# A broken operator expression is reported at start-up with the operator's key and line.
{ base; echo "task.operators=f"; echo "operators.f.type=filter"; echo "operators.f.expr=json_extract(paylod, '\$.x') = 1"; } >"$T/expr.properties"
check_one expr 3 "$T/expr.properties:7:" "operators.f.expr" "paylod"

# Samza keys that mean nothing to sluice are accepted.
{ base; echo "job.systemstreampartition.grouper.factory=org.apache.samza.container.grouper.stream.AllSspToSingleTaskGrouperFactory"; echo "job.factory.class=x"; } >"$T/samza.properties"
expect_exit 0 "$SLUICE" config check "$T/samza.properties" >"$T/samza.out" 2>"$T/samza.err"
contains "$T/samza.out" "configuration is valid"

# Several problems at once: all are reported, one line each.
{ base; echo "task.comit.ms=5s"; echo "task.error.policy=ignore"; } >"$T/many.properties"
expect_exit 3 "$SLUICE" config check "$T/many.properties" 2>"$T/many.err"
[ "$(grep -c . "$T/many.err")" = 2 ] || { cat "$T/many.err"; fail "expected two error lines"; }

# A missing file.
expect_exit 3 "$SLUICE" config check "$T/nope.properties" 2>"$T/nofile.err"
contains "$T/nofile.err" "nope.properties"
say "ok"
