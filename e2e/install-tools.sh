#!/usr/bin/env bash
# Installs the e2e control plane into an envtest-layout folder, outside the project tree:
#   ${VIGIL_ENVTEST_DIR:-/opt/vigil-envtest}/bin/{kube-apiserver,kube-controller-manager,etcd,kubectl}
# - kube-apiserver and kube-controller-manager (v1.32) are unpacked from the xz files in
#   ${VIGIL_SHARED_ENVTEST:-<repo>/../shared/envtest} when missing or when their sha256 differs from
#   the one that folder's README gives (no package registry serves them).
# - etcd (3.5) and kubectl (1.32) are taken from Debian's trixie suite: its .debs are downloaded
#   and unpacked with `dpkg -x`, never installed, so no system package is touched. The trixie
#   apt source is pinned at -1, so apt never installs or upgrades anything from it by itself.
# Idempotent: a tool that is already present and right is skipped. Exits non-zero, naming the tool,
# when any of the four cannot be installed. Quiet unless something fails.
set -euo pipefail

ENVTEST_DIR="${VIGIL_ENVTEST_DIR:-/opt/vigil-envtest}"
BIN="$ENVTEST_DIR/bin"
SHARED="${VIGIL_SHARED_ENVTEST:-$(cd "$(dirname "$0")/.." && pwd)/../shared/envtest}"

# The control-plane binaries from shared/envtest: unpack when missing or not the pinned build.
# The expected sha256 is read from that folder's README table (one row per binary).
for tool in kube-apiserver kube-controller-manager; do
  want=$(awk -v f="\`$tool.xz\`" -F'|' '$2 ~ f { gsub(/[ `]/, "", $4); print $4 }' "$SHARED/README.md" 2>/dev/null || true)
  if [[ ! -f "$SHARED/$tool.xz" || -z "$want" ]]; then
    echo "install-tools: $SHARED/$tool.xz or its sha256 in $SHARED/README.md is missing" >&2
    exit 1
  fi
  have=$(sha256sum "$BIN/$tool" 2>/dev/null | cut -d' ' -f1 || true)
  [[ "$have" == "$want" ]] && continue
  mkdir -p "$BIN"
  xz -dc "$SHARED/$tool.xz" >"$BIN/$tool.new"
  have=$(sha256sum "$BIN/$tool.new" | cut -d' ' -f1)
  if [[ "$have" != "$want" ]]; then
    rm -f "$BIN/$tool.new"
    echo "install-tools: $SHARED/$tool.xz unpacks to sha256 $have, not $want" >&2
    exit 1
  fi
  chmod 0755 "$BIN/$tool.new"
  mv -f "$BIN/$tool.new" "$BIN/$tool"
done
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

for tool in kube-apiserver kube-controller-manager etcd kubectl; do
  [[ -x "$BIN/$tool" ]] || { echo "install-tools: $BIN/$tool is missing after installing" >&2; exit 1; }
done
echo "install-tools: $BIN has $("$BIN/kube-apiserver" --version 2>/dev/null), kube-controller-manager, $("$BIN/etcd" --version 2>/dev/null | head -n 1), kubectl $("$BIN/kubectl" version --client 2>/dev/null | head -n 1)"
