#!/bin/sh
# Make sure an nginx binary exists, installing it from apt when it does not.
# Idempotent: when nginx is already there this only prints its path.
# Used by `make test` before the integration tests (tests/deploy/test_nginx_cache.py),
# which run the real nginx binary in front of a real `statuslist serve`.
set -eu

find_nginx() {
    if command -v nginx >/dev/null 2>&1; then
        command -v nginx
    elif [ -x /usr/sbin/nginx ]; then
        echo /usr/sbin/nginx
    else
        return 1
    fi
}

if path=$(find_nginx); then
    echo "$path"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-nginx: nginx is not installed and apt-get is not available;" \
        "install nginx with your package manager" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-nginx: nginx is not installed; run this script as root (or sudo) to install it" >&2
    exit 1
fi

echo "ensure-nginx: nginx not found, installing it with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# The "light" flavour has everything the cache config uses (proxy, map, cache); plain nginx
# is the fallback for releases that no longer ship the flavoured packages.
if ! { apt-get update -qq &&
    { apt-get install -y -qq nginx-light </dev/null ||
        apt-get install -y -qq nginx </dev/null; }; }; then
    echo "ensure-nginx: apt-get could not install nginx-light or nginx" >&2
    exit 1
fi

if ! path=$(find_nginx); then
    echo "ensure-nginx: nginx was installed but no nginx binary is on PATH or at /usr/sbin/nginx" >&2
    exit 1
fi
echo "$path"
