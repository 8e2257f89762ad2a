# apt-install-missing.sh: sourced by the install-*-deps.sh scripts.
#   apt_install_missing NAME PACKAGE...
# installs the packages that are not installed yet (apt-get needs root), saying what it does under NAME; the
# package lists are refreshed only when apt does not know a package yet (offline-friendly when they are
# cached); another apt-get holding the dpkg lock (a parallel CI job) is waited for rather than failed on.
apt_install_missing() {
    local name=$1 p
    shift
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "$name: all packages present"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "$name: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        return 1
    fi
    echo "$name: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq
    fi
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
