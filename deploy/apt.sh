# Sourced by the deploy/ensure-*.sh scripts: installs Debian packages for a tool that is missing,
# non-interactively (CI=true, no stdin), as root; apt-get's output goes to stderr, so that what a
# script prints on stdout stays the tool's path.
#
#   apt_install WHO WHAT PACKAGE...
#     WHO: the script, for messages; WHAT: the missing tool. Returns non-zero, with a message, when
#     apt-get is not there, when not root, or when the install fails. `apt-get update` runs once
#     per script, however many calls.

apt_install() {
    who=$1
    what=$2
    shift 2
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$who: $what is not installed and apt-get is not available;" \
            "install it with your package manager" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "$who: $what is not installed; run this script as root (or sudo) to install it" >&2
        return 1
    fi
    echo "$who: $what not found, installing $* with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${APT_UPDATED:-}" ]; then
        apt-get update -qq >&2 || { echo "$who: apt-get update failed" >&2; return 1; }
        APT_UPDATED=1
    fi
    if ! apt-get install -y -qq "$@" </dev/null >&2; then
        echo "$who: apt-get could not install $*" >&2
        return 1
    fi
}
