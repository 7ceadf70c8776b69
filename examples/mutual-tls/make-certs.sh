#!/bin/sh
# Throwaway certificates for the mutual TLS recipe: a CA, a server certificate
# for 127.0.0.1/localhost and a client certificate, all signed by that CA.
#   sh make-certs.sh DIR
set -eu
dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir" && cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj "/CN=cookbook CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for who in server client; do
  openssl req -new $ec -keyout $who.key -out $who.csr -subj "/CN=cookbook $who" 2>/dev/null
done
common="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer"
printf '%s\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$common" > server.ext
printf '%s\nextendedKeyUsage=clientAuth\n' "$common" > client.ext
for who in server client; do
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem -days 30 \
    -extfile $who.ext 2>/dev/null
done
echo "certificates in $dir: ca.pem, server.pem/server.key, client.pem/client.key"
