#!/usr/bin/env bash
# Debian packages the bot and its tests use that no Python package provides:
#   fonts-hanazono  CJK Extensions B–F, for rare characters in names on member cards
#   chromium, chromium-driver  a real browser for the web dashboard's tests and the
#                   demo's screenshot of it (driven by selenium through /usr/bin/chromedriver)
# Installed with apt when missing (as root, or with sudo); elsewhere, says what to install.
set -euo pipefail

packages=(fonts-hanazono chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "note: please install ${missing[*]}. Without fonts-hanazono (a font with CJK" \
         "Extension B–F), names with such rare characters are refused at the form and" \
         "the tests of those names fail; without chromium and chromium-driver, the" \
         "dashboard's browser tests fail." >&2
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }
