#!/usr/bin/env bash
# Draws the 1024×1024 source icon (icon.png) with ImageMagick 6 and Noto Sans CJK
# (Debian: imagemagick fonts-noto-cjk). Regenerate every size and format afterwards:
#   npx @tauri-apps/cli@2 icon icons/source/icon.png -o icons
set -euo pipefail
cd "$(dirname "$0")"
# /usr/bin/convert explicitly: some machines put a stand-in `convert` first on PATH.
/usr/bin/convert -size 1024x1024 xc:none \
  -fill '#1f4e9c' -draw 'roundrectangle 64,64 960,960 190,190' \
  -fill white -draw 'roundrectangle 170,250 854,800 48,48' \
  -fill '#c9d8f0' -draw 'polygon 186,262 838,262 512,480' \
  -fill '#1f4e9c' -font Noto-Sans-CJK-SC-Bold -pointsize 230 \
  -gravity center -annotate +0+122 '信' \
  icon.png
