#!/usr/bin/env bash
# Add Facsimile to the desktop menu: a .desktop entry and the icon, for the current user.
#
#   installer/install_desktop_entry.sh [--prefix DIR] [--uninstall] [FACSIMILE_EXECUTABLE_OR_BUNDLE]
#
# FACSIMILE_EXECUTABLE_OR_BUNDLE: the bundle folder from installer/build_bundle.py (dist/facsimile),
# its executable, or a `facsimile` on PATH / in .venv/bin (default: the bundle in dist/, then
# .venv/bin/facsimile). --prefix defaults to ${XDG_DATA_HOME:-~/.local/share}; files go to
# PREFIX/applications/facsimile.desktop and PREFIX/icons/hicolor/<size>/apps/facsimile.png (+ scalable svg).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
prefix="${XDG_DATA_HOME:-$HOME/.local/share}"
uninstall=0
target=""

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install_desktop_entry: --prefix needs a folder" >&2; exit 2; }
                  prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "install_desktop_entry: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) target="$1"; shift ;;
    esac
done

apps="$prefix/applications"
icons="$prefix/icons/hicolor"
sizes="16 32 48 64 128 256 512"

if [ "$uninstall" = 1 ]; then
    rm -f "$apps/facsimile.desktop" "$icons/scalable/apps/facsimile.svg"
    for s in $sizes; do rm -f "$icons/${s}x${s}/apps/facsimile.png"; done
    echo "removed the Facsimile desktop entry from $prefix"
    exit 0
fi

if [ -z "$target" ]; then
    for cand in "$repo/dist/facsimile/facsimile" "$repo/.venv/bin/facsimile"; do
        if [ -x "$cand" ]; then target="$cand"; break; fi
    done
fi
[ -n "$target" ] || { echo "install_desktop_entry: no facsimile executable found; build one with" \
                           "installer/build_bundle.py or pass its path" >&2; exit 1; }
[ -d "$target" ] && target="$target/facsimile"
[ -x "$target" ] || { echo "install_desktop_entry: $target is not an executable" >&2; exit 1; }
exe="$(cd "$(dirname "$target")" && pwd)/$(basename "$target")"

# The icons and the entry template: beside a bundle's executable (_internal/resources) or in the checkout.
res="$repo/resources"
[ -f "$(dirname "$exe")/_internal/resources/facsimile.desktop" ] && res="$(dirname "$exe")/_internal/resources"
for f in "$res/facsimile.desktop" "$res/icons/facsimile.svg"; do
    [ -f "$f" ] || { echo "install_desktop_entry: missing $f" >&2; exit 1; }
done

mkdir -p "$apps" "$icons/scalable/apps"
for s in $sizes; do
    if [ -f "$res/icons/facsimile-$s.png" ]; then
        mkdir -p "$icons/${s}x${s}/apps"
        cp "$res/icons/facsimile-$s.png" "$icons/${s}x${s}/apps/facsimile.png"
    fi
done
cp "$res/icons/facsimile.svg" "$icons/scalable/apps/facsimile.svg"

# Exec/TryExec get the absolute executable (quoted for the Desktop Entry spec when it has spaces).
quoted="$exe"
case "$exe" in *" "*) quoted="\"$exe\"" ;; esac
tmp="$(mktemp "$apps/.facsimile.desktop.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
sed -e "s|^Exec=facsimile |Exec=$quoted |" -e "s|^TryExec=facsimile$|TryExec=$exe|" \
    "$res/facsimile.desktop" > "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$apps/facsimile.desktop"
trap - EXIT

if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$apps/facsimile.desktop"
fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$icons" 2>/dev/null || true
echo "installed $apps/facsimile.desktop (runs $exe) and icons under $icons"
