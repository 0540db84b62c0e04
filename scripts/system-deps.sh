#!/usr/bin/env bash
# Installs the Samba AD DC packages the directory tier needs, if missing, when we may (root + apt).
set -euo pipefail
if command -v samba >/dev/null 2>&1 && command -v samba-tool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: Samba is not installed and cannot be installed here (needs root and apt-get);" \
       "the samba test tier will skip (or fail under ITBOT_REQUIRE_SERVICES=1)." >&2
  exit 0
fi
echo "installing Samba AD DC packages (samba-ad-dc samba-ad-provision ldb-tools)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends samba-ad-dc samba-ad-provision ldb-tools >/dev/null
