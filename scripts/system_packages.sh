#!/usr/bin/env bash
# Debian packages the bot and its tests use that no Python package provides:
#   fonts-hanazono  CJK Extensions B–F, for rare characters in names on member cards
# Installed with apt when missing (as root, or with sudo); elsewhere, says what to install.
set -euo pipefail

packages=(fonts-hanazono)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "note: please install ${missing[*]} (a font with CJK Extension B–F)." \
         "Without it, names with such rare characters are refused at the form," \
         "and the tests of those names fail." >&2
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }
