#!/bin/sh
# Make sure a headless-capable Chromium exists, installing Debian's `chromium` package when it
# does not. Idempotent: when a browser is already there this only prints its path. Used by
# `make test` before tests/loadtest/test_html_report.py, which renders the HTML load-test report
# in it (screenshot, DOM, console errors). Works without a terminal (CI=true, no stdin).
set -eu

find_chromium() {
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    if [ -x /usr/bin/chromium ]; then
        echo /usr/bin/chromium
        return 0
    fi
    return 1
}

if path=$(find_chromium); then
    echo "$path"
    exit 0
fi

. "$(dirname "$0")/apt.sh"
# fonts-dejavu-core: the report's text renders the same on every machine.
apt_install ensure-chromium chromium --no-install-recommends chromium fonts-dejavu-core

if ! path=$(find_chromium); then
    echo "ensure-chromium: chromium was installed but no chromium binary is on PATH" >&2
    exit 1
fi
echo "$path"
