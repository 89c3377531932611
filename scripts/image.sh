#!/bin/sh
# Customises a Raspberry Pi OS image for installers: installs the edgegate
# package into the image's root file system and writes the first-boot file
# (edgegate.toml) onto its boot partition. Flash the result, boot, and the
# gateway imports the file once (see docs/install.md).
#
#   sudo scripts/image.sh -i raspios-lite-arm64.img[.xz] -p edgegate_VERSION_arm64.deb [-o gateway.img]
#        [--firstboot FILE | --name NAME --ocs-url URL --ocs-pin SHA256 --oco-server URL
#         --oco-key KEY --lora-region REGION --lora-hat HAT --status-page HOST:PORT --password PASSWORD]
#
# It needs root (losetup, mount), sfdisk, mtools (the FAT boot partition is
# written with mcopy, no vfat mount needed) and dpkg: the package is
# installed with the host's dpkg into the mounted image (--root, maintainer
# scripts run chrootless on DPKG_ROOT), so no ARM emulation is needed.
# Without -o the image is changed in place; an .xz image needs -o.
set -eu

die() { echo "image.sh: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

image= pkg= out= fbfile=
name= ocs= ocspin= oco= ocokey= region= hat= page= password=
while [ $# -gt 0 ]; do
	case $1 in
	-i) image=$2; shift 2 ;;
	-p) pkg=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	--firstboot) fbfile=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--ocs-url) ocs=$2; shift 2 ;;
	--ocs-pin) ocspin=$2; shift 2 ;;
	--oco-server) oco=$2; shift 2 ;;
	--oco-key) ocokey=$2; shift 2 ;;
	--lora-region) region=$2; shift 2 ;;
	--lora-hat) hat=$2; shift 2 ;;
	--status-page) page=$2; shift 2 ;;
	--password) password=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "image.sh: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$image" ] && [ -n "$pkg" ] || usage
[ -f "$image" ] || die "no image $image"
[ -f "$pkg" ] || die "no package $pkg (build it with make package)"
[ "$(id -u)" = 0 ] || die "run as root (losetup and mount need it)"
for tool in sfdisk losetup mount umount mcopy dpkg; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install fdisk mount mtools dpkg)"
done

case $image in
*.xz)
	[ -n "$out" ] || die "an .xz image needs -o OUT.img"
	xz -dc "$image" > "$out" ;;
*)
	if [ -n "$out" ] && [ "$out" != "$image" ]; then cp --sparse=always "$image" "$out"; fi ;;
esac
img=${out:-$image}

# The partition table: partition 1 is the FAT boot partition, 2 the root.
parts=$(sfdisk --dump "$img") || die "$img has no partition table"
field() { echo "$parts" | grep -E "^[^ ]*[^0-9]$1 :" | sed -n "s/.*[ ,]$2= *\([0-9]*\).*/\1/p"; }
boot_start=$(field 1 start) root_start=$(field 2 start) root_size=$(field 2 size)
[ -n "$boot_start" ] && [ -n "$root_start" ] || die "$img: want a boot partition (1) and a root partition (2)"

mnt=$(mktemp -d)
loop=
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt"; fi
	if [ -n "$loop" ]; then losetup -d "$loop"; fi
	rmdir "$mnt"
}
trap cleanup EXIT INT TERM
loop=$(losetup --find --show --offset $((root_start * 512)) --sizelimit $((root_size * 512)) "$img") ||
	die "losetup failed (loop devices available? try: modprobe loop)"
mount "$loop" "$mnt" || die "cannot mount the root partition of $img"
[ -d "$mnt/var/lib/dpkg" ] || die "$img: the root partition has no dpkg database; is it Raspberry Pi OS?"

# The package must match the image's architecture.
pkgarch=$(dpkg-deb -f "$pkg" Architecture)
imgarch=$(awk '/^Package: dpkg$/ { p = 1 } p && /^Architecture:/ { print $2; exit }' "$mnt/var/lib/dpkg/status")
if [ -n "$imgarch" ] && [ "$imgarch" != "$pkgarch" ]; then
	die "$pkg is for $pkgarch but the image is $imgarch"
fi
dpkg --root="$mnt" --force-script-chrootless --force-architecture --log=/dev/null -i "$pkg" ||
	die "installing $pkg into the image failed"
echo "image.sh: installed $(dpkg-deb -f "$pkg" Package) $(dpkg-deb -f "$pkg" Version) ($pkgarch)"

# The first-boot file on the boot partition.
fb=$(mktemp)
if [ -n "$fbfile" ]; then
	cp "$fbfile" "$fb"
else
	q() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
	{
		echo "# edgegate first-boot file, written by image.sh. Imported once at the first start;"
		echo "# see /usr/share/doc/edgegate/edgegate.toml.example for every key."
		[ -z "$name" ] || echo "name = \"$(q "$name")\""
		[ -z "$ocs" ] || echo "ocs_url = \"$(q "$ocs")\""
		[ -z "$ocspin" ] || echo "ocs_pin = \"$(q "$ocspin")\""
		[ -z "$oco" ] || echo "oco_server = \"$(q "$oco")\""
		[ -z "$ocokey" ] || echo "oco_registration_key = \"$(q "$ocokey")\""
		[ -z "$region" ] || echo "lora_region = \"$(q "$region")\""
		[ -z "$hat" ] || echo "lora_hat = \"$(q "$hat")\""
		[ -z "$page" ] || echo "status_page = \"$(q "$page")\""
		[ -z "$password" ] || echo "password = \"$(q "$password")\""
	} > "$fb"
fi
mcopy -o -i "$img@@$((boot_start * 512))" "$fb" ::edgegate.toml || { rm -f "$fb"; die "cannot write the boot partition"; }
rm -f "$fb"
echo "image.sh: wrote edgegate.toml on the boot partition"
echo "image.sh: $img is ready to flash"
