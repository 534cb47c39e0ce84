#!/bin/sh
# Make sure an nginx binary exists, and its njs module (for the origin-offload config,
# offload.conf.template), installing them from apt when they do not.
# Idempotent: when both are there this only prints nginx's path.
# Used by `make test` before the integration tests (tests/deploy/test_nginx_cache.py,
# tests/deploy/test_offload.py), which run the real nginx binary with a real `statuslist serve`.
set -eu

NJS_MODULE=/usr/lib/nginx/modules/ngx_http_js_module.so

find_nginx() {
    if command -v nginx >/dev/null 2>&1; then
        command -v nginx
    elif [ -x /usr/sbin/nginx ]; then
        echo /usr/sbin/nginx
    else
        return 1
    fi
}

if path=$(find_nginx) && [ -f "$NJS_MODULE" ]; then
    echo "$path"
    exit 0
fi

. "$(dirname "$0")/../apt.sh"
if ! find_nginx >/dev/null; then
    # The "light" flavour has everything the cache config uses (proxy, map, cache); plain
    # nginx is the fallback for releases that no longer ship the flavoured packages.
    apt_install ensure-nginx nginx nginx-light || apt_install ensure-nginx nginx nginx
fi
if [ ! -f "$NJS_MODULE" ]; then
    apt_install ensure-nginx "nginx's njs module" libnginx-mod-http-js
fi

if ! path=$(find_nginx); then
    echo "ensure-nginx: nginx was installed but no nginx binary is on PATH or at /usr/sbin/nginx" >&2
    exit 1
fi
echo "$path"
