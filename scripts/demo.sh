#!/usr/bin/env bash
# Install firmseal into .venv, then sign the shipped AR9271 firmware and verify it the way a
# device would: with the public key, with openssl, and with the CA chain. A tampered copy
# must be rejected. Everything happens in a throwaway workspace under demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .

out="$PWD/demo-out"
rm -rf "$out"
mkdir -p "$out/signed"
export FIRMSEAL_HOME="$out/home"
firmseal() { "$PWD/.venv/bin/firmseal" "$@"; }
image=assets/firmware/ath9k_htc/htc_9271-1.4.0.fw
step() { printf '\n== %s\n' "$*"; }

step "Create a workspace (SQLite, local key store, local object store)"
firmseal init

step "Create a P-256 signing key and a P-384 CA, both inside the key store"
firmseal key create release --spec ECC_NIST_P256 >/dev/null
firmseal ca create acme-ca --spec ECC_NIST_P384 --subject "CN=Acme Firmware CA,O=Acme" >/dev/null
firmseal cert issue release-cert --ca acme-ca --key release \
    --subject "CN=Acme Release Signing,O=Acme" --days 365 >/dev/null
firmseal key list

step "Define a FreeRTOS OTA signing profile"
firmseal profile put wifi_fw --platform AmazonFreeRTOS-Default --key release \
    --certificate release-cert --param certname=/certs/acme_signer.pem >/dev/null
firmseal profile list

step "Sign $image"
firmseal sign --profile wifi_fw "$image" --out-dir "$out/signed"

step "Export what a device embeds: the public key, the signer certificate, the CA"
firmseal key public-key release > "$out/release.pem"
firmseal cert export release-cert > "$out/release-cert.pem"
firmseal ca export acme-ca > "$out/acme-ca.pem"

name=$(basename "$image")
step "Verify with the public key"
firmseal verify "$image" --signature "$out/signed/$name.sig" --public-key "$out/release.pem"

step "Verify the signed object with the certificate chain"
firmseal verify "$image" --signed-object "$out/signed/$name.signed.json" \
    --certificate "$out/release-cert.pem" --ca "$out/acme-ca.pem"

step "Verify independently with openssl"
openssl dgst -sha256 -verify "$out/release.pem" -signature "$out/signed/$name.sig" "$image"

step "A tampered copy is rejected"
cp "$image" "$out/tampered.fw"
# Flip the lowest bit of byte 4096, whatever its value.
byte=$(od -An -tu1 -j4096 -N1 "$image" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 1)))" | dd of="$out/tampered.fw" bs=1 seek=4096 conv=notrunc status=none
cmp -s "$image" "$out/tampered.fw" && { echo "demo failed: tampering changed nothing" >&2; exit 1; }
if firmseal verify "$out/tampered.fw" --signature "$out/signed/$name.sig" \
    --public-key "$out/release.pem"; then
    echo "demo failed: the tampered image verified" >&2
    exit 1
fi
echo "tampered image rejected, as it must be"

step "Done: artifacts in $out/signed"
ls -l "$out/signed"
