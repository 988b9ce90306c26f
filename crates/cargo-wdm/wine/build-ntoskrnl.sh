#!/bin/bash
# build-ntoskrnl.sh OUT_DIR [PATCH]
#
# Builds Wine's ntoskrnl.exe (x86_64 PE) alone, from Debian's source of exactly the installed
# wine64 version, with PATCH applied (default: ntoskrnl-startio-csq.patch beside this script;
# "-" builds it unpatched), and writes OUT_DIR/ntoskrnl.exe. Part of the wdm project; see
# README.md here.
#
# Why exactly the installed version: the DLL talks to the installed ntdll and wineserver,
# whose private interfaces change between releases.
#
# Steps (measured in ../../../shared/spec/wine-startio.md):
#   1. `apt-get source --download-only` through an apt configuration of its own under the
#      scratch folder (its own sources.list with a deb-src line, lists and cache): the system's
#      apt state is not touched. Fails with exit status 2 when the source cannot be fetched.
#   2. Build tools: flex, bison, m4, autoconf and autotools-dev. Run as root, missing ones are
#      installed with the system's apt-get (the ordinary way on a project machine); otherwise
#      their .debs are downloaded through the scratch apt configuration and unpacked into the
#      scratch folder, with autoconf's hard-coded paths rewritten to point there.
#   3. The Debian repack strips generated files: regenerate those ntoskrnl needs with the
#      package's own steps (debian/scripts/generate, tools/make_requests, autoheader, autoconf,
#      the icon links from debian/rules) and create empty placeholders for the stripped files
#      it does not need.
#   4. Apply PATCH, configure for win64 without X or optional libraries, and make only
#      dlls/ntoskrnl.exe (which first builds winebuild, widl, wrc, winegcc and import libraries).
#
# Environment: NTOSKRNL_SCRATCH (default OUT_DIR/scratch) is the working folder; it can be
# deleted afterwards. WINE_SOURCE_VERSION overrides the version (default: the installed
# wine64's source version). NTOSKRNL_MIRROR overrides the archive (default
# http://deb.debian.org/debian). NTOSKRNL_TOOLS=local unpacks the build tools into the scratch
# folder even when running as root. Command output goes to OUT_DIR/build.log; progress lines
# on stdout carry the elapsed seconds.
#
# Copyright: part of the wdm project (MIT OR Apache-2.0); the Wine source it builds is LGPL-2.1+.

set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT_DIR [PATCH|-]" >&2
    exit 64
fi

HERE=$(dirname "$(realpath "$0")")
OUT=$(realpath -m "$1")
PATCH=${2:-$HERE/ntoskrnl-startio-csq.patch}
[ "$PATCH" = - ] || PATCH=$(realpath -m "$PATCH")
SCRATCH=$(realpath -m "${NTOSKRNL_SCRATCH:-$OUT/scratch}")
LOG=$OUT/build.log
SECONDS=0

say() { printf '[%3d s] %s\n' "$SECONDS" "$*"; }
die() {
    local code=$1
    shift
    printf '[%3d s] error: %s\n' "$SECONDS" "$*" >&2
    exit "$code"
}
# run STEP CMD...: runs CMD with its output appended to the log; on failure says which step
# failed and shows the log's tail.
run() {
    local step=$1
    shift
    echo "+ $*" >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        tail -n 25 "$LOG" | sed 's/^/    /' >&2
        die 1 "$step failed (full log: $LOG)"
    fi
}

if [ "$PATCH" != - ] && [ ! -r "$PATCH" ]; then
    die 64 "cannot read the patch $PATCH"
fi
mkdir -p "$OUT" "$SCRATCH"
: >"$LOG"

PKG=$(dpkg-query -W -f='${source:Package}' wine64 2>/dev/null || true)
VERSION=${WINE_SOURCE_VERSION:-$(dpkg-query -W -f='${source:Version}' wine64 2>/dev/null || true)}
[ -n "$VERSION" ] || die 2 "wine64 is not installed (dpkg-query -W wine64) and WINE_SOURCE_VERSION is not set"
PKG=${PKG:-wine}
UPSTREAM=${VERSION#*:}
UPSTREAM=${UPSTREAM%%[~-]*}
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
MIRROR=${NTOSKRNL_MIRROR:-http://deb.debian.org/debian}
say "building ntoskrnl.exe from $PKG $VERSION ($CODENAME), patch: $PATCH"

# --- 1. the source, through an apt configuration of its own -------------------------------
APT=$SCRATCH/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/debs" "$SCRATCH/src"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$APT/sources.list" <<EOF
deb [signed-by=$KEYRING] $MIRROR $CODENAME main
deb-src [signed-by=$KEYRING] $MIRROR $CODENAME main
EOF
cat >"$APT/apt.conf" <<EOF
Dir::Etc::sourcelist "$APT/sources.list";
Dir::Etc::sourceparts "-";
Dir::State::Lists "$APT/lists";
Dir::Cache "$APT";
Dir::Cache::archives "$APT/archives";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::Sandbox::User "$(id -un)";
EOF
export APT_CONFIG=$APT/apt.conf
echo "+ apt-get update (scratch configuration $APT_CONFIG)" >>"$LOG"
if ! apt-get -q update >>"$LOG" 2>&1 || grep -q '^[EW]: Failed to fetch' "$LOG"; then
    tail -n 5 "$LOG" | sed 's/^/    /' >&2
    die 2 "cannot fetch Debian's package index for $CODENAME from $MIRROR (log: $LOG)"
fi
DSC=${PKG}_${VERSION#*:}.dsc
if [ ! -f "$SCRATCH/src/$DSC" ]; then
    echo "+ apt-get source --download-only $PKG=$VERSION" >>"$LOG"
    if ! (cd "$SCRATCH/src" && apt-get -q source --download-only "$PKG=$VERSION") >>"$LOG" 2>&1 \
        || [ ! -f "$SCRATCH/src/$DSC" ]; then
        tail -n 5 "$LOG" | sed 's/^/    /' >&2
        die 2 "cannot fetch the source of $PKG $VERSION from $MIRROR (log: $LOG)"
    fi
fi
SRC=$SCRATCH/src/$PKG-$UPSTREAM
rm -rf "$SRC"
run "unpacking the source" dpkg-source -x "$SCRATCH/src/$DSC" "$SRC"
say "source unpacked: $SRC"

# --- 2. build tools -------------------------------------------------------------------------
TOOLS=(flex bison m4 autoconf autotools-dev)
have_tools() {
    command -v flex && command -v bison && command -v m4 && command -v autoconf \
        && [ -f /usr/share/misc/config.sub ]
}
MISC=/usr/share/misc
if [ "${NTOSKRNL_TOOLS:-}" = local ] || ! have_tools >/dev/null; then
    if [ "$(id -u)" = 0 ] && [ "${NTOSKRNL_TOOLS:-}" != local ]; then
        say "installing ${TOOLS[*]} with apt-get"
        run "apt-get install ${TOOLS[*]}" env -u APT_CONFIG DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${TOOLS[@]}"
    else
        say "unpacking ${TOOLS[*]} into the scratch folder (not root, or NTOSKRNL_TOOLS=local)"
        T=$SCRATCH/tools
        run "downloading ${TOOLS[*]}" sh -c "cd '$APT/debs' && apt-get -q download ${TOOLS[*]}"
        for deb in "$APT"/debs/*.deb; do run "unpacking $deb" dpkg-deb -x "$deb" "$T"; done
        for f in usr/bin/autoconf usr/bin/autoheader usr/bin/autom4te usr/share/autoconf/autom4te.cfg; do
            sed -i "s|/usr/share/autoconf|$T/usr/share/autoconf|g; s|/usr/bin/autom4te|$T/usr/bin/autom4te|g;
                    s|/usr/bin/m4|$T/usr/bin/m4|g" "$T/$f"
        done
        export PATH=$T/usr/bin:$PATH M4=$T/usr/bin/m4 BISON_PKGDATADIR=$T/usr/share/bison \
            autom4te_perllibdir=$T/usr/share/autoconf AC_MACRODIR=$T/usr/share/autoconf \
            AUTOM4TE_CFG=$T/usr/share/autoconf/autom4te.cfg AUTOM4TE=$T/usr/bin/autom4te
        MISC=$T/usr/share/misc
    fi
fi
say "build tools ready"

# --- 3. regenerate what the repack strips -----------------------------------------------------
cd "$SRC"
prepare() {
    ./debian/scripts/generate server/trace.generated make_requests
    ./debian/scripts/generate server/request.generated make_requests
    ./tools/make_requests
    ln -sf "$MISC/config.sub" tools/config.sub
    ln -sf "$MISC/config.guess" tools/config.guess
    autoheader
    autoconf
    # Headers generated from the Vulkan and OpenGL registries: not used by ntoskrnl.
    for h in vulkan vulkan_driver wgl wgl_driver; do [ -e "include/wine/$h.h" ] || : >"include/wine/$h.h"; done
    # The icon links debian/rules makes before building.
    sed -n '/image files used/,/ifneq/p' debian/rules | grep 'ln -sf' | sed 's/^\t//' | sh
    # Other stripped files (debian/copyright's Files-Excluded): empty placeholders, so that
    # make's dependency scan finds them; none of them goes into ntoskrnl.exe.
    sed -n '/^Files-Excluded:/,/^Upstream-Name/p' debian/copyright | sed '1d;$d;s/^ //' | grep -v '[*]' \
        | grep -E '^(dlls|include|libs)/' | while read -r f; do [ -e "$f" ] || : >"$f"; done
    grep -o '[a-z0-9_]*\.nls' nls/Makefile.in | sort -u | while read -r f; do [ -e "nls/$f" ] || : >"nls/$f"; done
}
# A shell of its own: errexit does not apply to a function run as a condition (inside run).
run "regenerating the stripped files" env MISC="$MISC" bash -euo pipefail -c "$(declare -f prepare); prepare"
if [ "$PATCH" != - ]; then
    run "applying $PATCH" patch -p1 --no-backup-if-mismatch -i "$PATCH"
fi
say "tree prepared"

# --- 4. configure and build only ntoskrnl.exe -------------------------------------------------
BUILD=$SCRATCH/build
rm -rf "$BUILD"
mkdir -p "$BUILD"
cd "$BUILD"
WITHOUT=(x freetype gnutls oss sane netapi alsa pulse gstreamer cups dbus sdl usb v4l2 vulkan opengl
    osmesa wayland capi gphoto krb5 ldap pcap pcsclite udev unwind inotify fontconfig)
run "configure" "$SRC/configure" --enable-win64 --disable-tests --with-mingw \
    "${WITHOUT[@]/#/--without-}" ZLIB_PE_LIBS=z
say "configured"
JOBS=$(nproc)
[ "$JOBS" -le 2 ] || JOBS=2
run "make" make -j"$JOBS" dlls/ntoskrnl.exe/x86_64-windows/ntoskrnl.exe
cp dlls/ntoskrnl.exe/x86_64-windows/ntoskrnl.exe "$OUT/ntoskrnl.exe.tmp"
mv "$OUT/ntoskrnl.exe.tmp" "$OUT/ntoskrnl.exe"
say "built $OUT/ntoskrnl.exe"
