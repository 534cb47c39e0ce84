#!/bin/sh
# Build the origin offload's native fast path (deploy/nginx/module) as a dynamic module for the
# nginx installed here, from Debian's nginx-dev (nginx's headers and configure script for that
# very version), which this installs with apt when missing.
#
#   deploy/nginx/build-module.sh [OUT_DIR]   (default: build/nginx under the repository)
#
# Prints the module's path. Rebuilds only when the module's source is newer than the .so.
# Load it with `load_module <that path>;` in nginx.conf's main context (offload.conf.template).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-"$repo/build/nginx"}
so="$out/ngx_http_statuslist_module.so"
src="$here/module"

if [ -f "$so" ] && [ -z "$(find "$src" -newer "$so" -type f)" ]; then
    echo "$so"
    exit 0
fi

nginx=$(sh "$here/ensure-nginx.sh")
if [ ! -x /usr/share/nginx/src/configure ]; then
    . "$here/../apt.sh"
    apt_install build-module "nginx's development files" nginx-dev
fi

version=$("$nginx" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
headers=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' /usr/share/nginx/src/src/core/nginx.h)
if [ "$version" != "$headers" ]; then
    echo "build-module: nginx is $version but nginx-dev has the headers of $headers;" \
        "install the matching nginx-dev" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r /usr/share/nginx/src/. "$work/"
# The flags the installed nginx was configured with (--with-compat among them): a module built
# with other flags would be refused by that binary.
flags=$(sed -n 's/^NGX_CONF_FLAGS=(\(.*\))$/\1/p' "$work/conf_flags")
echo "build-module: building the statuslist module for nginx $version" >&2
# shellcheck disable=SC2086  # the flags are words
(cd "$work" && ./configure $flags --add-dynamic-module="$src" >"$work/configure.log" 2>&1) || {
    cat "$work/configure.log" >&2
    echo "build-module: nginx's configure failed (above)" >&2
    exit 1
}
(cd "$work" && make -f objs/Makefile modules >"$work/make.log" 2>&1) || {
    cat "$work/make.log" >&2
    echo "build-module: the build failed (above)" >&2
    exit 1
}
mkdir -p "$out"
cp "$work/objs/ngx_http_statuslist_module.so" "$so.tmp"
mv "$so.tmp" "$so"
echo "$so"
