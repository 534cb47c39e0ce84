#!/bin/sh
# Make sure PostgreSQL's server binaries (initdb, pg_ctl) exist, installing Debian's `postgresql`
# package when they do not. Idempotent: when they are there this only prints their directory.
# Used by `make test`: the storage contract suite and the multi-instance tests start a real
# PostgreSQL server of their own (tests/pg.py) on a temporary directory and a free port.
set -eu

find_bindir() {
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir)
        if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -r); do
        if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

if dir=$(find_bindir); then
    echo "$dir"
    exit 0
fi
. "$(dirname "$0")/apt.sh"
apt_install ensure-postgres "the PostgreSQL server (initdb)" postgresql
find_bindir
