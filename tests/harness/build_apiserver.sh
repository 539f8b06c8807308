#!/usr/bin/env bash
# Builds kube-apiserver v1.20.2 from Debian's source package once and caches it.
# Prints the directory holding `kube-apiserver` (and uses Debian's etcd).
# Skipped entirely when $KUBEBUILDER_ASSETS already holds kube-apiserver and etcd.
set -euo pipefail

VERSION=v1.20.2
CACHE_DIR="${AML_KSERVE_CACHE:-$HOME/.cache/aml-kserve}"
OUT="$CACHE_DIR/kube-apiserver-$VERSION"

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

need_pkgs=()
for cmd_pkg in etcd:etcd-server go:golang-go rsync:rsync jq:jq; do
  command -v "${cmd_pkg%%:*}" >/dev/null 2>&1 || need_pkgs+=("${cmd_pkg#*:}")
done
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_pkgs+=(golang-github-modern-go-reflect2-dev)

if [ -x "$OUT/kube-apiserver" ] && [ ${#need_pkgs[@]} -eq 0 ]; then
  echo "$OUT"
  exit 0
fi

log() { echo "[build-apiserver] $*" >&2; }

src_list=/etc/apt/sources.list.d/aml-kserve-deb-src.sources
if [ ! -f "$src_list" ]; then
  cat > "$src_list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt_updated=0
fi
if [ ${#need_pkgs[@]} -gt 0 ] || [ "${apt_updated:-1}" = 0 ] || [ ! -x "$OUT/kube-apiserver" ]; then
  log "apt-get update"
  apt-get update -qq >&2
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi
if [ -x "$OUT/kube-apiserver" ]; then
  echo "$OUT"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/aml-kserve-apiserver.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log "downloading Debian's kubernetes source package"
apt-get source --download-only kubernetes >&2
orig=$(ls kubernetes_*.orig.tar.* | head -n 1)
mkdir src
tar -xf "$orig" -C src --strip-components=1
cd src

log "patching vendor/ (reflect2 for Go >= 1.18, kubernetes#99804)"
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
rm -f vendor/github.com/modern-go/reflect2/go.mod
find vendor/github.com/modern-go/reflect2 -name '*_test.go' -delete
rm -rf vendor/github.com/modern-go/reflect2/tests
old='if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {'
for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
  [ -f "$f" ] || continue
  grep -qF "$old" "$f" || { log "expected condition not found in $f"; exit 1; }
  python3 - "$f" "$old" <<'PY'
import sys
path, old = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(text.replace(old, "if data == nil {"))
PY
  # reflect may now be unused in that file; keep the build green.
  if ! grep -q 'reflect\.' <(grep -v '^import\|^\s*"reflect"' "$f"); then
    sed -i '/^\s*"reflect"$/d' "$f"
  fi
done

log "building kube-apiserver (a few minutes)"
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
gohome=$(mktemp -d)
GOPATH="$PWD/.go" CGO_ENABLED=0 HOME="$gohome" GOFLAGS=-mod=vendor make WHAT=cmd/kube-apiserver >&2
mkdir -p "$OUT"
cp _output/bin/kube-apiserver "$OUT/kube-apiserver.tmp"
mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
rm -rf "$gohome"
log "cached at $OUT"
echo "$OUT"
