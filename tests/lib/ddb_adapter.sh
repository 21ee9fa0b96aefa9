# ddb_adapter.sh: sourced by tests that check sluice's DynamoDB Streams records against what
# Apache Pulsar's DynamoDB source connector (pulsar-io-dynamodb 4.0.8) would publish for them.
# The judge is Amazon's own code at the versions that connector ships: tests/tools/
# DdbAdapterJudge.java reads every shard of a stream with the AWS SDK v1 DynamoDB Streams client
# and wraps each record in dynamodb-streams-kinesis-adapter's RecordAdapter, the object KCL v1
# hands to Pulsar's StreamsRecord. This file gives
#   ddb_adapter_judge ENDPOINT STREAM_ARN
# which prints one line per record: KEY<TAB>EVENT_NAME<TAB>SEQUENCE_NUMBER<TAB>base64(payload)
# (see the .java for the exact rules). On first use it installs a JDK 17 from Debian if javac is
# missing, fetches the jars at pinned versions with Maven (Debian's maven package, installed if
# mvn is missing; so from the repositories, mirrors and proxies of the user's
# ~/.m2/settings.xml), each checked against the SHA-1 recorded below, into
# ${SLUICE_PEERS_CACHE:-$HOME/.cache/sluice-peers}/ddb-adapter-*/ (complete only once
# .installed is written, under flock), and compiles the judge there
# (again whenever the .java is newer). Works under set -eu; a failure is reported on stderr
# naming the step, and the function returns non-zero.
#
# Versions: those packed into the connector's NAR, i.e. pulsar-io-dynamodb-4.0.8.pom's
# dependencies resolved with the dependencyManagement of its parents pulsar-io-4.0.8.pom and
# pulsar-4.0.8.pom (checked with mvn dependency:tree on that POM):
#   dynamodb-streams-kinesis-adapter 1.5.1   pinned in pulsar-io-dynamodb-4.0.8.pom
#   aws-java-sdk-{core,dynamodb,kinesis} 1.12.788
#                                            pulsar-4.0.8.pom imports aws-java-sdk-bom at
#                                            ${aws-sdk.version}=1.12.788, which overrides the
#                                            adapter's own 1.11.728
#   jackson-{databind,core,annotations} 2.17.2   pulsar-4.0.8.pom imports jackson-bom at
#                                            ${jackson.version}
#   commons-logging 1.3.5, joda-time 2.10.10, httpclient 4.5.13, httpcore 4.4.15
#                                            pulsar-4.0.8.pom dependencyManagement
#                                            (${commons-logging.version}, ${joda.version},
#                                            ${apache-http-client.version},
#                                            ${apache-httpcomponents.version})
# Only the jars the judge loads are fetched. Also in the NAR but never loaded on this path, so
# left out: amazon-kinesis-client 1.13.3 (KCL; RecordAdapter does not use it), jmespath-java
# (waiters), jackson-dataformat-cbor (the CBOR protocol, not DynamoDB Streams'), commons-codec
# (httpclient's proxy auth schemes), aws-java-sdk-{s3,kms,cloudwatch,sts}.

DDBA_ADAPTER_VERSION=1.5.1
DDBA_SDK_VERSION=1.12.788
# groupId artifactId version sha1 of the .jar; the classpath, in this order.
DDBA_JARS="com.amazonaws dynamodb-streams-kinesis-adapter $DDBA_ADAPTER_VERSION e0980ee62b7d9b48f7ebb6199d71a7fab0653d89
com.amazonaws aws-java-sdk-dynamodb $DDBA_SDK_VERSION b29678995914cc7889bc3ebe36fab255108b8d37
com.amazonaws aws-java-sdk-kinesis $DDBA_SDK_VERSION c2148f85d1321ef1adeef25e6e2b990505138d3a
com.amazonaws aws-java-sdk-core $DDBA_SDK_VERSION 1f773e506c497bead11a429038f082d646c316f5
com.fasterxml.jackson.core jackson-databind 2.17.2 e6deb029e5901e027c129341fac39e515066b68c
com.fasterxml.jackson.core jackson-core 2.17.2 969a35cb35c86512acbadcdbbbfb044c877db814
com.fasterxml.jackson.core jackson-annotations 2.17.2 147b7b9412ffff24339f8aba080b292448e08698
commons-logging commons-logging 1.3.5 a3fcc5d3c29b2b03433aa2d2f2d2c1b1638924a1
org.apache.httpcomponents httpclient 4.5.13 e5f6cae5ca7ecaac1ec2827a9e2d65ae2869cada
org.apache.httpcomponents httpcore 4.4.15 7f2e0c573eaa7a74bac2e89b359e1f73d92a0a1d
joda-time joda-time 2.10.10 29e8126e31f41e5c12b9fe3a7eb02e704c47d70b"
DDBA_MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1

ddba_msg() { printf 'ddb_adapter: %s\n' "$*" >&2; }

# ddba_cache: prints the cache root (absolute).
ddba_cache() {
    _ddba_c=${SLUICE_PEERS_CACHE:-${HOME:-/tmp}/.cache/sluice-peers}
    case $_ddba_c in /*) ;; *) _ddba_c=$PWD/$_ddba_c ;; esac
    printf '%s\n' "$_ddba_c"
}

# ddba_apt PKG...: installs the missing Debian packages, as root or via sudo, one apt at a time
# (same lock file as tests/peers/lib.sh).
ddba_apt() {
    _ddba_missing=""
    for _ddba_p in "$@"; do
        dpkg-query -W -f='${Status}' "$_ddba_p" 2>/dev/null | grep -q "install ok installed" \
            || _ddba_missing="$_ddba_missing $_ddba_p"
    done
    [ -z "$_ddba_missing" ] && return 0
    command -v apt-get >/dev/null 2>&1 || { ddba_msg "needs$_ddba_missing and there is no apt-get"; return 1; }
    if [ "$(id -u)" = 0 ]; then _ddba_sudo=""
    elif command -v sudo >/dev/null 2>&1; then _ddba_sudo="sudo -n"
    else ddba_msg "needs$_ddba_missing: not root and no sudo"; return 1; fi
    _ddba_root=$(ddba_cache)
    mkdir -p "$_ddba_root" || { ddba_msg "cannot create $_ddba_root"; return 1; }
    ddba_msg "installing Debian packages:$_ddba_missing"
    # shellcheck disable=SC2086
    (
        flock 9 || exit 1
        export DEBIAN_FRONTEND=noninteractive
        $_ddba_sudo apt-get -o DPkg::Lock::Timeout=300 update -qq &&
            $_ddba_sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $_ddba_missing
    ) 9>"$_ddba_root/.apt.lock" >"$_ddba_root/.apt-ddb-adapter.log" 2>&1 || {
        tail -n 20 "$_ddba_root/.apt-ddb-adapter.log" >&2
        ddba_msg "apt-get install$_ddba_missing failed"; return 1
    }
}

# ddba_jdk_major DIR: the major version of DIR/javac (empty if none).
ddba_jdk_major() {
    [ -x "$1/javac" ] && [ -x "$1/java" ] || return 0
    "$1/javac" -version 2>&1 | sed -n 's/^javac \([0-9][0-9]*\).*/\1/p' | head -n 1
}

# ddba_jdk: sets DDBA_JAVA and DDBA_JAVAC to a JDK 17 or newer: the one on PATH, else Debian's
# openjdk-17 (installed with apt-get if it is not there).
ddba_jdk() {
    [ -n "${DDBA_JAVAC:-}" ] && [ -x "$DDBA_JAVAC" ] && return 0
    _ddba_bin=""
    if command -v javac >/dev/null 2>&1; then
        _ddba_bin=$(dirname "$(readlink -f "$(command -v javac)")")
        _ddba_v=$(ddba_jdk_major "$_ddba_bin")
        [ -n "$_ddba_v" ] && [ "$_ddba_v" -ge 17 ] || _ddba_bin=""
    fi
    if [ -z "$_ddba_bin" ]; then
        for _ddba_d in /usr/lib/jvm/java-17-openjdk-*/bin; do
            [ -x "$_ddba_d/javac" ] && { _ddba_bin=$_ddba_d; break; }
        done
    fi
    if [ -z "$_ddba_bin" ]; then
        ddba_apt openjdk-17-jdk-headless || return 1
        for _ddba_d in /usr/lib/jvm/java-17-openjdk-*/bin; do
            [ -x "$_ddba_d/javac" ] && { _ddba_bin=$_ddba_d; break; }
        done
        [ -n "$_ddba_bin" ] || { ddba_msg "no javac under /usr/lib/jvm/java-17-openjdk-* after installing openjdk-17-jdk-headless"; return 1; }
    fi
    DDBA_JAVAC=$_ddba_bin/javac
    DDBA_JAVA=$_ddba_bin/java
}

# ddba_pom: a POM that depends on exactly the jars of DDBA_JARS, each without its own
# dependencies (wildcard exclusions), so Maven resolves these versions and nothing else.
ddba_pom() {
    echo '<project><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>sluice.tests</groupId><artifactId>ddb-adapter-judge</artifactId><version>1</version>'
    echo '<packaging>pom</packaging><dependencies>'
    printf '%s\n' "$DDBA_JARS" | while read -r _ddba_g _ddba_a _ddba_v _ddba_sha; do
        [ -n "$_ddba_g" ] || continue
        printf '<dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version>' \
            "$_ddba_g" "$_ddba_a" "$_ddba_v"
        echo '<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>'
    done
    echo '</dependencies></project>'
}

# ddba_fetch_all DIR: fetches every jar of DDBA_JARS into DIR/jars with Maven, checking each
# SHA-1. Maven's local repository is the one tests/peers/lib.sh uses, under the same lock.
ddba_fetch_all() {
    mkdir -p "$1/jars" || return 1
    ddba_pom >"$1/pom.xml" || return 1
    _ddba_root=$(ddba_cache)
    (
        flock 8 || exit 1
        mvn -B -ntp -f "$1/pom.xml" -Dmaven.repo.local="$_ddba_root/maven-repo" \
            "$DDBA_MVN_DEP_PLUGIN:copy-dependencies" -DoutputDirectory="$1/jars" >"$1/mvn.log" 2>&1
    ) 8>"$_ddba_root/.maven.lock" || {
        tail -n 30 "$1/mvn.log" >&2
        ddba_msg "mvn could not fetch the jars listed in $1/pom.xml (log: $1/mvn.log)"; return 1
    }
    printf '%s\n' "$DDBA_JARS" | while read -r _ddba_g _ddba_a _ddba_v _ddba_sha; do
        [ -n "$_ddba_g" ] || continue
        _ddba_f=$1/jars/$_ddba_a-$_ddba_v.jar
        [ -s "$_ddba_f" ] || { ddba_msg "mvn gave no $_ddba_f ($_ddba_g:$_ddba_a:$_ddba_v)"; exit 1; }
        _ddba_got=$(sha1sum "$_ddba_f" | cut -d' ' -f1)
        [ "$_ddba_got" = "$_ddba_sha" ] \
            || { ddba_msg "SHA-1 mismatch for $_ddba_g:$_ddba_a:$_ddba_v: got $_ddba_got, want $_ddba_sha"; exit 1; }
    done
}

# ddba_install: makes sure the jar directory is complete and the judge compiled; sets DDBA_CP.
ddba_install() {
    ddba_jdk || return 1
    _ddba_src=${DDB_ADAPTER_JUDGE_SRC:-${top_srcdir:-.}/tests/tools/DdbAdapterJudge.java}
    [ -r "$_ddba_src" ] || { ddba_msg "cannot read the judge's source $_ddba_src (set top_srcdir)"; return 1; }
    for _ddba_c in mvn sha1sum flock; do
        command -v "$_ddba_c" >/dev/null 2>&1 && continue
        case $_ddba_c in mvn) ddba_apt maven ;; sha1sum) ddba_apt coreutils ;; flock) ddba_apt util-linux ;; esac \
            || return 1
    done
    _ddba_dir=$(ddba_cache)/ddb-adapter-$DDBA_ADAPTER_VERSION-sdk-$DDBA_SDK_VERSION
    if [ ! -e "$_ddba_dir/.installed" ]; then
        mkdir -p "$(dirname "$_ddba_dir")" || { ddba_msg "cannot create $(dirname "$_ddba_dir")"; return 1; }
        (
            flock 9 || exit 1
            [ -e "$_ddba_dir/.installed" ] && exit 0
            ddba_msg "fetching the judge's jars with mvn into $_ddba_dir"
            rm -rf "$_ddba_dir" && mkdir -p "$_ddba_dir" || exit 1
            ddba_fetch_all "$_ddba_dir" || exit 1
            touch "$_ddba_dir/.installed"
        ) 9>"$_ddba_dir.lock" || { ddba_msg "installing the jars into $_ddba_dir failed"; return 1; }
    fi
    DDBA_CP=""
    for _ddba_a in $(printf '%s\n' "$DDBA_JARS" | awk '{ print $2 "-" $3 ".jar" }'); do
        DDBA_CP=$DDBA_CP${DDBA_CP:+:}$_ddba_dir/jars/$_ddba_a
    done
    _ddba_cls=$_ddba_dir/classes/DdbAdapterJudge.class
    if [ ! -e "$_ddba_cls" ] || [ -n "$(find "$_ddba_src" -newer "$_ddba_cls" 2>/dev/null)" ]; then
        (
            flock 9 || exit 1
            if [ -e "$_ddba_cls" ] && [ -z "$(find "$_ddba_src" -newer "$_ddba_cls" 2>/dev/null)" ]; then exit 0; fi
            ddba_msg "compiling $_ddba_src"
            rm -rf "$_ddba_dir/classes.new" && mkdir -p "$_ddba_dir/classes.new" || exit 1
            "$DDBA_JAVAC" --release 17 -nowarn -encoding UTF-8 -cp "$DDBA_CP" -d "$_ddba_dir/classes.new" "$_ddba_src" >&2 \
                || exit 1
            rm -rf "$_ddba_dir/classes" && mv "$_ddba_dir/classes.new" "$_ddba_dir/classes"
        ) 9>"$_ddba_dir/.compile.lock" || { ddba_msg "compiling $_ddba_src with $DDBA_JAVAC failed"; return 1; }
    fi
    DDBA_CP=$_ddba_dir/classes:$DDBA_CP
}

# ddb_adapter_judge ENDPOINT STREAM_ARN: prints what Pulsar's DynamoDB source would publish for
# every record of the stream (one line each, see the top of this file).
ddb_adapter_judge() {
    [ $# = 2 ] || { ddba_msg "usage: ddb_adapter_judge ENDPOINT STREAM_ARN"; return 2; }
    ddba_install || return 1
    # C1 only and the serial GC: the judge is short-lived; this starts fastest on 2 cores.
    "$DDBA_JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp "$DDBA_CP" \
        DdbAdapterJudge "$1" "$2" || { _ddba_rc=$?; ddba_msg "the judge failed (exit $_ddba_rc) on $2 at $1"; return 1; }
}
