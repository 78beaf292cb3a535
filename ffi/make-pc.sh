#!/usr/bin/env bash
# Writes target/<profile>/pkgconfig/ringbus.pc for libringbus built in this tree, so that
#   PKG_CONFIG_PATH=$PWD/target/<profile>/pkgconfig cc app.c $(pkg-config --cflags --libs ringbus)
# links against it (add --static to link libringbus.a and the system libraries it needs).
# usage: ffi/make-pc.sh [debug|release]   (run from anywhere; builds nothing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
profile="${1:-debug}"
libdir="$root/target/$profile"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
mkdir -p "$libdir/pkgconfig"
cat > "$libdir/pkgconfig/ringbus.pc" <<PC
prefix=$root
includedir=\${prefix}/ffi/include
libdir=$libdir

Name: ringbus
Description: In-process event bus: lock-free partition rings, fanout and work queues, persisted logs
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lringbus
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
PC
echo "$libdir/pkgconfig/ringbus.pc"
