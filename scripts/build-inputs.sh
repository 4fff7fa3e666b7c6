#!/usr/bin/env bash
# Stage what the image builds take from this machine into images/build-inputs/ (see its README):
#   - the CA bundle pip trusts here, found the way pip resolves its `cert` option: the PIP_CERT environment variable
#     first, then the config files' [global] and [install] sections (`pip config get` reads only files). A bundle that
#     is named but missing fails here, with the setting to fix, instead of a TLS error ten build steps later.
#   - a local torch wheel of TORCH_VERSION from pip's find-links (PIP_FIND_LINKS, then the config files), if any.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$([ -x "${VENV:-.venv}/bin/python" ] && echo "${VENV:-.venv}/bin/python" || command -v python3)}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
INPUTS="${BUILD_INPUTS:-images/build-inputs}"

pip_setting() {
  local name="$1" variable value
  variable="PIP_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')"
  value="${!variable:-}"
  if [ -z "$value" ]; then
    value=$("$PYTHON" -m pip config get "global.$name" 2>/dev/null || "$PYTHON" -m pip config get "install.$name" 2>/dev/null || true)
  fi
  printf '%s' "$value"
}

cert=$(pip_setting cert)
if [ -n "$cert" ]; then
  if [ ! -f "$cert" ]; then
    echo "pip's CA bundle '$cert' (from PIP_CERT or a pip config file's cert) does not exist: point the setting at" \
         "the bundle your proxy's certificate is in, or unset it" >&2
    exit 2
  fi
  cp "$cert" "$INPUTS/ca-certificates.crt"
  echo "CA bundle for the image builds: $cert"
else
  rm -f "$INPUTS/ca-certificates.crt"
  echo "no CA bundle set for pip (PIP_CERT or a pip config file's cert): the image builds trust pip's own (certifi)"
fi

for links in $(pip_setting find-links); do
  wheel=$(ls "${links#file://}"/torch-"$TORCH_VERSION"+cpu-*.whl 2>/dev/null | head -1 || true)
  if [ -n "$wheel" ]; then
    cp -u "$wheel" "$INPUTS/"
    echo "torch wheel for the CPU images: $wheel"
    break
  fi
done
