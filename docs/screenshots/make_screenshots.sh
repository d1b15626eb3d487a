#!/usr/bin/env bash
# Regenerate the studio screenshots in docs/screenshots/ from a real shot (shared clip d0.mp4):
# build a project, analyse it, key a brow raise and a smile gain, then draw the studio under Xvfb.
# Usage: docs/screenshots/make_screenshots.sh [CLIP]   (needs xvfb-run; run from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
CLIP="${1:-../shared/media/clips/d0.mp4}"
FAC=".venv/bin/facsimile"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
P="$WORK/d0.facsimile"
"$FAC" project create "$P" --plate "$CLIP" >/dev/null
"$FAC" project analyze "$P" >/dev/null
SHOT="$(basename "$CLIP" .mp4)"
for c in AU01 AU02; do
  "$FAC" project key "$P" --shot "$SHOT" --curve "$c" --frame 28 --value 0 >/dev/null
  "$FAC" project key "$P" --shot "$SHOT" --curve "$c" --frame 40 --value 2.0 >/dev/null
  "$FAC" project key "$P" --shot "$SHOT" --curve "$c" --frame 52 --value 0 >/dev/null
done
"$FAC" project gain "$P" --shot "$SHOT" --au 12 --gain 1.3 >/dev/null
shoot() { xvfb-run -a -s "-screen 0 1920x1080x24" "$FAC" studio "$P" --size 1800x1050 "$@"; }
shoot --screenshot docs/screenshots/studio.png --frame 40 --view wipe
echo "written: docs/screenshots/studio.png"

# Swap mode: a still of another person (shared stills/s1.jpg, with a consent record) as the
# identity template, assigned to the shot; the viewer shows the live render.
STILL="$(dirname "$CLIP")/../stills/s1.jpg"
export FACSIMILE_HOME="$WORK/home"
"$FAC" library add "Template s1" "$STILL" --consent-by "test subject" --consent-use "documentation" >/dev/null
"$FAC" project assign "$P" --shot "$SHOT" --template "Template s1" >/dev/null
"$FAC" project set "$P" --shot "$SHOT" mode=swap >/dev/null
shoot --screenshot docs/screenshots/studio_swap.png --frame 40 --view render
echo "written: docs/screenshots/studio_swap.png"

# A project whose plate moved (its day folder renamed): the bin marks the plate missing and the
# warnings say how to relink it.
mkdir -p "$WORK/day1"
cp "$CLIP" "$WORK/day1/"
"$FAC" project create "$WORK/moved.facsimile" --plate "$WORK/day1/$(basename "$CLIP")" >/dev/null
mv "$WORK/day1" "$WORK/day1_graded"
xvfb-run -a -s "-screen 0 1920x1080x24" "$FAC" studio "$WORK/moved.facsimile" --size 1800x1050 \
  --screenshot docs/screenshots/studio_missing_plate.png
echo "written: docs/screenshots/studio_missing_plate.png"
