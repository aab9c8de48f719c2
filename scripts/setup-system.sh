#!/usr/bin/env bash
# Install the Debian packages blankett needs. Fast when all are present (no apt-get update).
# Usage: scripts/setup-system.sh [extra package ...]
set -euo pipefail

PACKAGES=(
  python3 python3-venv python3-pip
  tesseract-ocr tesseract-ocr-swe tesseract-ocr-eng tesseract-ocr-script-latn
  poppler-utils libtiff-tools
  # fonts: the replica renderer uses reportlab's built-in Helvetica; the sample generator
  # writes typed values in DejaVu/Liberation and hand-printed ones in handwriting fonts
  fonts-dejavu-core fonts-liberation
  fonts-dancingscript fonts-comic-neue fonts-humor-sans fonts-breip fonts-kristi
  fonts-dkg-handwriting fonts-sjfonts fonts-femkeklaver fonts-kaushanscript
  fonts-tlwg-purisa-otf fonts-tomsontalks
  # the store's tests run on a throwaway PostgreSQL cluster (scripts/test-postgres.sh):
  # Debian's server and client (bookworm: 15; binaries in /usr/lib/postgresql/15/bin)
  postgresql postgresql-client
  # the review UI's browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright
  chromium
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 from another source (pyenv) is fine as long as it can make a venv
if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  tmp=(); for p in "${missing[@]}"; do case "$p" in python3|python3-venv|python3-pip) ;; *) tmp+=("$p");; esac; done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "blankett setup: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "blankett setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
