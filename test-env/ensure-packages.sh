#!/usr/bin/env bash
# Makes sure the system packages the test environment needs are installed.
#
# Runs first in `npm test`. When everything is present it only looks for a few files and
# returns (well under a second). When something is missing it installs it with apt-get if
# running as root, otherwise it names the packages and exits 1.
#
# PostgreSQL server binaries are only needed when no server answers on 127.0.0.1:5432 and
# LATCHKEY_TEST_PG_URL is unset (the harness then starts a throwaway cluster).
set -euo pipefail

missing=()
need() { # need <package> <file-or-command>...
  local pkg=$1
  shift
  local f
  for f in "$@"; do
    if [[ $f == /* ]]; then
      [[ -e $f ]] || {
        missing+=("$pkg")
        return
      }
    else
      command -v "$f" >/dev/null 2>&1 || {
        missing+=("$pkg")
        return
      }
    fi
  done
}

need samba /usr/sbin/samba /usr/bin/samba-tool
# samba-ad-dc is a metapackage (it pulls in winbind and friends); ask dpkg about it.
if command -v dpkg-query >/dev/null 2>&1 &&
  [[ $(dpkg-query -W -f='${Status}' samba-ad-dc 2>/dev/null || true) != "install ok installed" ]]; then
  missing+=(samba-ad-dc)
fi
# Without samba-ad-provision, provisioning fails with "Please install samba-ad-provision package".
need samba-ad-provision /usr/share/samba/setup/ad-schema/MS-AD_Schema_2K8_R2_Attributes.txt
need slapd /usr/sbin/slapd /usr/sbin/slapadd /usr/lib/ldap/ppolicy.so /usr/lib/ldap/back_mdb.so
need ldap-utils ldapsearch
need chromium /usr/bin/chromium
need openssl openssl
need faketime faketime
# The explainer's slide deck is checked by converting it to PDF (LibreOffice) and reading it back (pdftotext).
need libreoffice-impress soffice /usr/bin/loimpress
need poppler-utils pdftotext pdfinfo

pg_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432 -t 1
  else
    timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432' 2>/dev/null
  fi
}
if [[ -z ${LATCHKEY_TEST_PG_URL:-} ]] && ! pg_answers; then
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
  fi
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

# samba-ad-dc and samba-ad-provision are always installed with samba (see DIRECTORY-LAB.md §1).
declare -A seen=()
pkgs=()
for p in "${missing[@]}"; do
  case $p in samba | samba-ad-dc | samba-ad-provision) group=(samba samba-ad-dc samba-ad-provision) ;; *) group=("$p") ;; esac
  for q in "${group[@]}"; do
    [[ -n ${seen[$q]:-} ]] || {
      seen[$q]=1
      pkgs+=("$q")
    }
  done
done

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  {
    echo "test-env: missing system packages: ${pkgs[*]}"
    echo "test-env: the tests run against a real Samba AD DC, slapd, PostgreSQL and Chromium. Install them with:"
    echo "  echo 'slapd slapd/no_configuration boolean true' | sudo debconf-set-selections"
    echo "  sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y ${pkgs[*]}"
  } >&2
  exit 1
fi

echo "test-env: installing ${pkgs[*]} (apt-get) ..." >&2
export DEBIAN_FRONTEND=noninteractive

# Keep the packages' postinst scripts from starting system daemons (slapd or samba on 389/636
# would block the test DC). Images built for containers usually have this already.
created_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
apt-get update -qq
apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}" >&2

# Belt and braces: if a system slapd or samba was started anyway, stop and disable it.
services=(slapd samba-ad-dc smbd nmbd winbind)
[[ " ${pkgs[*]} " == *" postgresql "* ]] && services+=(postgresql)
for svc in "${services[@]}"; do
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
for pidfile in /run/slapd/slapd.pid /run/samba/samba.pid /run/samba/smbd.pid /run/samba/nmbd.pid /run/samba/winbindd.pid; do
  if [[ -s $pidfile ]]; then
    pid=$(<"$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      echo "test-env: stopping system daemon pid $pid ($pidfile) started by the package install" >&2
      kill -TERM "$pid" 2>/dev/null || true
    fi
  fi
done
for port in 389 636; do
  if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    echo "test-env: warning: something still listens on 127.0.0.1:$port; the Samba AD DC needs it" >&2
  fi
done
echo "test-env: installed ${pkgs[*]}" >&2
