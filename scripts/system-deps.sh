#!/usr/bin/env bash
# Installs the system packages the integration tests use, only where they are missing.
# kubectl: the one on PATH if any, else Debian's kubernetes-client.
# docker-registry: Debian's OCI-distribution registry, started by the tests/oci registry tests.
# htpasswd (apache2-utils): writes the bcrypt password file for the registry auth test.
set -euo pipefail
need=()
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
