# edgegate build, test and release targets. Run `make help` for the list.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
TOOLS     := $(CURDIR)/bin/tools
STATICCHECK_VERSION := v0.6.1
NFPM_VERSION := v2.43.0

# Packages that do no I/O of their own (or only file I/O): their tests also run
# under qemu-user on the ARM targets the gateway ships for.
PURE_PKGS := $(shell $(GO) list ./gateway/osp/... ./gateway/things/... ./gateway/josp/wire/... ./store/... 2>/dev/null)

FUZZTIME  ?= 10s

.PHONY: help build cross test test-race test-arm qemu steward-python-deps chromium imagetools package bench fuzz lint run clean

help:
	@echo "make build   host binaries into bin/"
	@echo "make cross   static linux/arm (v6, v7) and linux/arm64 binaries into dist/"
	@echo "make test    the whole suite with -race, then the pure packages under qemu (arm v6, arm64)"
	@echo "make bench   go test benchmarks, then scripts/bench-osp.sh (gatewayd against a UDP echo floor) and scripts/bench-upstream.sh (forwarding to the OCS): RESULT lines"
	@echo "make fuzz    a short bounded run of every fuzz target (FUZZTIME=$(FUZZTIME) each)"
	@echo "make lint    gofmt, go vet, staticcheck $(STATICCHECK_VERSION)"
	@echo "make run     gatewayd on the embedded default configuration, data under ./var"
	@echo "make package .deb packages for amd64, arm64 and armhf (ARMv6) into dist/ (nfpm $(NFPM_VERSION))"

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

cross:
	@mkdir -p dist/linux-armv6 dist/linux-armv7 dist/linux-arm64
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/linux-armv6/ ./cmd/...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/linux-armv7/ ./cmd/...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/linux-arm64/ ./cmd/...
	@ls -l dist/*/

test: test-race test-arm

test-race: steward-python-deps chromium imagetools
	$(GO) test -race -count=1 ./...

# The pure packages cross-compiled and run under qemu-user: 32-bit ARMv6 (Pi
# Zero/1: alignment of 64-bit atomics, int size) and arm64.
test-arm: qemu
	GOOS=linux GOARCH=arm GOARM=6 CGO_ENABLED=0 $(GO) test -count=1 -exec qemu-arm-static $(PURE_PKGS)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) test -count=1 -exec qemu-aarch64-static $(PURE_PKGS)

qemu:
	@command -v qemu-arm-static >/dev/null && command -v qemu-aarch64-static >/dev/null || \
		{ echo "installing qemu-user-static"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static; }

# Debian's python3-websockets and python3-zeroconf: the independent Native
# Thing client that gateway/steward's end-to-end test runs.
steward-python-deps:
	@/usr/bin/python3 -c 'import websockets, zeroconf' 2>/dev/null || \
		{ echo "installing python3-websockets python3-zeroconf"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-websockets python3-zeroconf; }
# Headless Chromium for the status page's browser test (cmd/gatewayd).
chromium:
	@command -v chromium >/dev/null || \
		{ echo "installing chromium"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Disk image tools for scripts/image.sh and its test (partition tables, FAT
# without a vfat mount).
imagetools:
	@command -v sfdisk >/dev/null && command -v mkfs.vfat >/dev/null && command -v mcopy >/dev/null || \
		{ echo "installing fdisk dosfstools mtools"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fdisk dosfstools mtools; }

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	GO=$(GO) scripts/bench-osp.sh
	GO=$(GO) scripts/bench-upstream.sh

fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

lint: $(TOOLS)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# Debian packages for every board: armhf is built GOARM=6 so one package
# runs on every Pi. See scripts/package.sh.
package: $(TOOLS)/nfpm
	NFPM=$(TOOLS)/nfpm GO=$(GO) scripts/package.sh -o dist amd64 arm64 armhf

$(TOOLS)/nfpm:
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

run:
	@mkdir -p var
	$(GO) run -ldflags "-X main.version=$(VERSION)" ./cmd/gatewayd -data ./var

clean:
	rm -rf bin dist
