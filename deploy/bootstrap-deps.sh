#!/usr/bin/env bash
# Installs the Debian 12 packages Cairn needs to build, test and run.
# A fast no-op when everything is present. As root it runs apt-get itself
# (update once, then install, never prompting); otherwise it prints the one
# command to run.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  librdkafka-dev librocksdb-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libyaml-cpp-dev libsimdjson-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev
  protobuf-compiler libprotobuf-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libre2-dev libhowardhinnant-date-dev
  libcurl4-openssl-dev libnghttp2-dev libssl-dev libkainjow-mustache-dev
  kcat tzdata curl clang-format
  chromium  # the dashboard end-to-end test (tests/dashboard, playwright-core drives it)
  prometheus-cpp-dev yamllint
)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

# Node.js + npm for the browser/schema tests (npm registry, lockfiles). A
# machine may already have them from elsewhere (e.g. NodeSource's nodejs,
# which bundles npm); only a machine without them gets Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  for p in nodejs npm; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
  done
fi

# kubectl (for `kubectl kustomize` in tests/deploy): Debian's
# kubernetes-client, unless a kubectl is already on PATH (e.g. Google's
# kubectl package, which owns the same /usr/bin/kubectl).
if ! command -v kubectl >/dev/null; then
  status=$(dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=(kubernetes-client)
fi

# (No early exit here: the project-local tools below are checked either way.)
if ((${#missing[@]} > 0)); then
  echo "bootstrap: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      SUDO=(sudo -n)
    else
      echo "bootstrap: not root; run this once, then try again:" >&2
      echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
      exit 1
    fi
  else
    SUDO=()
  fi

  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# ===========================================================================
# Project-local tools (not installed system-wide).
#
# postfix's smtp-sink, the SMTP peer of the connector tests
# (tests/support/smtp_sink.cc). The Debian package is only downloaded and
# unpacked into ${CAIRN_TOOLS_DIR:-<repo>/.tools}/postfix, never installed as
# a mail system; tests run usr/sbin/smtp-sink from there with
# LD_LIBRARY_PATH=usr/lib/postfix. A fast no-op when it is already there.
# ===========================================================================
cairn_repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cairn_tools_dir=${CAIRN_TOOLS_DIR:-$cairn_repo_dir/.tools}
postfix_dir=$cairn_tools_dir/postfix

# Runs apt-get as root, via sudo -n, or fails printing what to run.
tools_apt_get() {
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
  else
    echo "bootstrap: not root; run this once, then try again:" >&2
    echo "  sudo apt-get $*" >&2
    return 1
  fi
}

if [[ ! -x $postfix_dir/usr/sbin/smtp-sink ]]; then
  echo "bootstrap: unpacking postfix (for smtp-sink) into $postfix_dir" >&2
  mkdir -p "$cairn_tools_dir"
  postfix_work=$(mktemp -d "$cairn_tools_dir/.postfix-XXXXXX")
  trap 'rm -rf "$postfix_work"' EXIT
  # As root, apt downloads as its _apt user: let it write here (no warning).
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then
    chown _apt "$postfix_work"
  fi
  # `apt-get download` needs no root, but needs package lists: on a machine
  # where `apt-get update` never ran, run it once and try again.
  if ! (cd "$postfix_work" && apt-get download -q postfix); then
    echo "bootstrap: apt-get download postfix failed; updating the package lists once" >&2
    tools_apt_get update -q
    (cd "$postfix_work" && apt-get download -q postfix)
  fi
  dpkg-deb -x "$postfix_work"/postfix_*.deb "$postfix_work/root"
  # Move the finished tree into place so a half-unpacked one is never seen.
  rm -rf "$postfix_dir"
  mv "$postfix_work/root" "$postfix_dir"
  rm -rf "$postfix_work"
  trap - EXIT
fi

# promtool, which checks the live /metrics output (tests/metrics). Debian's
# prometheus package is a server with a service; only its promtool (a static
# Go binary) is needed, so the package is unpacked into
# <tools>/prometheus like postfix, never installed. Tests run
# <tools>/prometheus/usr/bin/promtool.
prometheus_dir=$cairn_tools_dir/prometheus
if [[ ! -x $prometheus_dir/usr/bin/promtool ]]; then
  echo "bootstrap: unpacking prometheus (for promtool) into $prometheus_dir" >&2
  mkdir -p "$cairn_tools_dir"
  prom_work=$(mktemp -d "$cairn_tools_dir/.prometheus-XXXXXX")
  trap 'rm -rf "$prom_work"' EXIT
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then
    chown _apt "$prom_work"
  fi
  if ! (cd "$prom_work" && apt-get download -q prometheus); then
    echo "bootstrap: apt-get download prometheus failed; updating the package lists once" >&2
    tools_apt_get update -q
    (cd "$prom_work" && apt-get download -q prometheus)
  fi
  dpkg-deb -x "$prom_work"/prometheus_*.deb "$prom_work/root"
  rm -rf "$prometheus_dir"
  mv "$prom_work/root" "$prometheus_dir"
  rm -rf "$prom_work"
  trap - EXIT
fi

# smtp-sink's own system libraries (postfix's Depends); usually present.
postfix_libs_missing=()
for p in libdb5.3 libicu72 libnsl2; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || postfix_libs_missing+=("$p")
done
if ((${#postfix_libs_missing[@]} > 0)); then
  echo "bootstrap: installing ${postfix_libs_missing[*]} (for smtp-sink)" >&2
  tools_apt_get update -q
  tools_apt_get install -y -q --no-install-recommends "${postfix_libs_missing[@]}"
fi
