#!/usr/bin/env bash
# Installs the e2e tools that come from Debian packages into an envtest-layout folder:
#   ${VIGIL_ENVTEST_DIR:-/opt/vigil-envtest}/bin/{etcd,kubectl}
# etcd (3.5) and kubectl (1.32) are taken from Debian's trixie suite: its .debs are downloaded
# and unpacked with `dpkg -x`, never installed, so no system package is touched. The trixie
# apt source is pinned at -1, so apt never installs or upgrades anything from it by itself.
# kube-apiserver is on no package registry: this script never builds or downloads it; it only
# reports whether it is in the folder (the e2e harness skips its tests without it).
# Idempotent: a tool that is already present and runs is skipped. Quiet unless something fails.
set -euo pipefail

ENVTEST_DIR="${VIGIL_ENVTEST_DIR:-/opt/vigil-envtest}"
BIN="$ENVTEST_DIR/bin"
SUITE=trixie
SOURCE_FILE=/etc/apt/sources.list.d/vigil-trixie.list
PIN_FILE=/etc/apt/preferences.d/vigil-trixie

# tool name -> Debian package that ships /usr/bin/<tool>
declare -A PACKAGE_OF=([etcd]=etcd-server [kubectl]=kubectl)

works() {
  case "$1" in
    etcd) "$BIN/etcd" --version >/dev/null 2>&1 ;;
    kubectl) "$BIN/kubectl" version --client >/dev/null 2>&1 ;;
  esac
}

missing=()
for tool in etcd kubectl; do
  if [[ -x "$BIN/$tool" ]] && works "$tool"; then continue; fi
  missing+=("$tool")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-tools: ${missing[*]} missing from $BIN and installing needs root" >&2
    exit 1
  fi
  mkdir -p "$BIN"
  work=$(mktemp -d)
  log="$work/apt.log"
  trap 'rm -rf "$work"' EXIT
  fail() { echo "install-tools: $1" >&2; [[ -s "$log" ]] && cat "$log" >&2; exit 1; }

  # The mirror of the system's own bookworm (main) source, from deb822 or one-line sources.
  bookworm_mirrors() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -f $f ]] || continue
      awk 'BEGIN { RS = ""; FS = "\n" }
           /(^|\n)Suites:[^\n]*bookworm([ \t\n]|$)/ {
             for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); print u[2] }
           }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f $f ]] || continue
      awk '$1 == "deb" {
             for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { if ($(i + 1) == "bookworm") print $i; break }
           }' "$f"
    done
  }
  mirror=$(bookworm_mirrors | grep -v -e security -e '^$' | head -n 1 || true)
  [[ -n "$mirror" ]] || fail "no bookworm apt source found to take the mirror from"

  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  want_source="deb [signed-by=$keyring] $mirror $SUITE main"
  want_pin=$'Package: *\nPin: release n='"$SUITE"$'\nPin-Priority: -1'
  changed=0
  if [[ "$(cat "$PIN_FILE" 2>/dev/null)" != "$want_pin" ]]; then
    printf '%s\n' "$want_pin" >"$PIN_FILE"
    changed=1
  fi
  if [[ "$(cat "$SOURCE_FILE" 2>/dev/null)" != "$want_source" ]]; then
    printf '%s\n' "$want_source" >"$SOURCE_FILE"
    changed=1
  fi

  packages=()
  for tool in "${missing[@]}"; do packages+=("${PACKAGE_OF[$tool]}/$SUITE"); done

  # apt's download sandbox user must be able to write into the download folder.
  id _apt >/dev/null 2>&1 && chown _apt "$work" || true
  download() { (cd "$work" && apt-get -qq download "${packages[@]}") >>"$log" 2>&1; }
  if ((changed)) || ! download; then
    apt-get -qq update >>"$log" 2>&1 || fail "apt-get update failed"
    download || fail "apt-get download ${packages[*]} failed"
  fi

  for tool in "${missing[@]}"; do
    deb=$(ls "$work/${PACKAGE_OF[$tool]}"_*.deb 2>/dev/null | head -n 1)
    [[ -n "$deb" ]] || fail "no .deb downloaded for ${PACKAGE_OF[$tool]}"
    dpkg -x "$deb" "$work/root"
    install -m 0755 "$work/root/usr/bin/$tool" "$BIN/$tool.new"
    mv -f "$BIN/$tool.new" "$BIN/$tool"
    works "$tool" || fail "$BIN/$tool was unpacked but does not run"
  done
fi

if [[ -x "$BIN/kube-apiserver" ]]; then
  echo "install-tools: kube-apiserver present in $BIN ($("$BIN/kube-apiserver" --version 2>/dev/null || echo 'version unknown'))"
else
  echo "install-tools: kube-apiserver NOT present in $BIN (e2e tests against a real API server will be skipped)"
fi
