#!/bin/sh
# Builds edgegate's .deb packages with nfpm.
#
#   scripts/package.sh [-o DIR] [ARCH...]     ARCH: amd64 arm64 armhf (default: all three)
#
# armhf is built GOARM=6, so one package runs on every Raspberry Pi (the
# Zero and 1 are ARMv6). Each package holds gatewayd, gatewayctl, ospsim
# and ocsd (when cmd/ocsd exists), the systemd unit, the configuration
# /etc/edgegate/gatewayd.toml and the device profiles (conffiles), the
# first-boot stager and bash completion. VERSION overrides the version
# (default: git describe); NFPM the nfpm binary (default bin/tools/nfpm).
set -eu
cd "$(dirname "$0")/.."
out=dist
if [ "${1:-}" = -o ]; then out=$2; shift 2; fi
[ $# -gt 0 ] || set -- amd64 arm64 armhf
GO=${GO:-go}
NFPM=${NFPM:-bin/tools/nfpm}
if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//; s/-/+/; s/-/./g' || true)
	[ -n "$VERSION" ] || VERSION="0.0.0~git$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi
case $VERSION in [0-9]*) ;; *) echo "package.sh: VERSION $VERSION must start with a digit" >&2; exit 2 ;; esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=$out/build
mkdir -p "$build/common"

# Architecture-independent parts, made once with the host's Go.
sed 's|^profile_dir = "" *|profile_dir = "/etc/edgegate/profiles"|' cmd/gatewayd/gatewayd.toml > "$build/common/gatewayd.toml"
grep -q '^profile_dir = "/etc/edgegate/profiles"' "$build/common/gatewayd.toml" || { echo "package.sh: profile_dir not set in the packaged configuration" >&2; exit 1; }
# Checked with the profiles from the tree where /etc/edgegate/profiles will be.
sed "s|^profile_dir = \"/etc/edgegate/profiles\"|profile_dir = \"$PWD/gateway/profiles\"|" "$build/common/gatewayd.toml" > "$build/common/check.toml"
$GO run ./cmd/gatewayd -check-config "$build/common/check.toml" >/dev/null
$GO run ./cmd/gatewayctl completion bash > "$build/common/gatewayctl.bash"

cmds="./cmd/gatewayd ./cmd/gatewayctl ./cmd/ospsim"
if [ -d cmd/ocsd ]; then cmds="$cmds ./cmd/ocsd"; else echo "package.sh: no cmd/ocsd in this tree; packaging without it" >&2; fi

for arch in "$@"; do
	goarm=
	case $arch in
	amd64) goarch=amd64 ;;
	arm64) goarch=arm64 ;;
	armhf) goarch=arm goarm=6 ;;
	*) echo "package.sh: unknown architecture $arch (amd64, arm64, armhf)" >&2; exit 2 ;;
	esac
	bin=$build/$arch
	mkdir -p "$bin"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm $GO build -trimpath \
		-ldflags "-s -w -X main.version=$VERSION" -o "$bin/" $cmds
	conf=$build/nfpm-$arch.yaml
	{
		cat <<YAML
name: edgegate
arch: $arch
platform: linux
version: "$VERSION"
version_schema: none
section: net
priority: optional
maintainer: edgegate maintainers <edgegate@localhost>
description: |
  Gateway daemon for sensor networks on Raspberry Pi class boards.
  gatewayd terminates OSP sensor sessions over serial lines, LoRa and UDP,
  keeps every reading it acknowledges in a bbolt database, and serves them
  to local services and an upstream OCS. Includes gatewayctl (the
  installer's CLI), ospsim (a sensor simulator) and the systemd unit.
homepage: https://github.com/edgegate/edgegate
license: Proprietary
contents:
  - src: $bin/gatewayd
    dst: /usr/bin/gatewayd
    file_info: {mode: 0755}
  - src: $bin/gatewayctl
    dst: /usr/bin/gatewayctl
    file_info: {mode: 0755}
  - src: $bin/ospsim
    dst: /usr/bin/ospsim
    file_info: {mode: 0755}
YAML
		if [ -f "$bin/ocsd" ]; then
			printf '  - src: %s\n    dst: /usr/bin/ocsd\n    file_info: {mode: 0755}\n' "$bin/ocsd"
		fi
		cat <<YAML
  - src: scripts/package/gatewayd.service
    dst: /usr/lib/systemd/system/gatewayd.service
    file_info: {mode: 0644}
  - src: scripts/package/firstboot-stage
    dst: /usr/lib/edgegate/firstboot-stage
    file_info: {mode: 0755}
  - src: $build/common/gatewayd.toml
    dst: /etc/edgegate/gatewayd.toml
    type: config|noreplace
    file_info: {mode: 0644}
  - src: scripts/package/edgegate.toml.example
    dst: /usr/share/doc/edgegate/edgegate.toml.example
    file_info: {mode: 0644}
  - src: README.md
    dst: /usr/share/doc/edgegate/README.md
    file_info: {mode: 0644}
  - src: docs/configuration.md
    dst: /usr/share/doc/edgegate/configuration.md
    file_info: {mode: 0644}
  - src: docs/install.md
    dst: /usr/share/doc/edgegate/install.md
    file_info: {mode: 0644}
  - src: $build/common/gatewayctl.bash
    dst: /usr/share/bash-completion/completions/gatewayctl
    file_info: {mode: 0644}
  - dst: /etc/edgegate/profiles
    type: dir
    file_info: {mode: 0755}
YAML
		for p in gateway/profiles/*.toml; do
			printf '  - src: %s\n    dst: /etc/edgegate/profiles/%s\n    type: config|noreplace\n    file_info: {mode: 0644}\n' "$p" "$(basename "$p")"
		done
		cat <<YAML
scripts:
  postinstall: scripts/package/postinst
  preremove: scripts/package/prerm
  postremove: scripts/package/postrm
YAML
	} > "$conf"
	"$NFPM" package --config "$conf" --packager deb --target "$out/" >/dev/null
	echo "$out/edgegate_${VERSION}_${arch}.deb"
done
