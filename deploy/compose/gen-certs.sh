#!/bin/sh
# Makes the certificates of the compose cluster, once, into DIR (default
# /tls): a private CA (ca.pem), the master's gateway certificate
# (master.crt/.key, name `master`, the host of slave.master_url) and the
# slaves' miner-door certificate for Stratum TLS, wss and Xatum
# (slave.crt/.key, names localhost, 127.0.0.1, haproxy, slave-1, slave-2).
# The CA's key is deleted once both are signed. A local cluster only: in
# production use real certificates (docs/DEPLOYMENT.md, "Certificates").
set -eu

dir=${1:-/tls}
cd "$dir"
if [ -s ca.pem ] && [ -s master.crt ] && [ -s master.key ] && [ -s slave.crt ] && [ -s slave.key ]; then
  echo "certificates already in $dir"
  exit 0
fi
umask 077

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.pem -days 825 -subj "/CN=TOS Pool compose CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# issue NAME SUBJECT_ALT_NAMES: a server certificate signed by the CA.
issue() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=$2" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 825 -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

issue master "DNS:master"
issue slave "DNS:localhost,IP:127.0.0.1,DNS:haproxy,DNS:slave-1,DNS:slave-2"
rm -f ca.key ca.srl
chmod 0644 ca.pem master.crt slave.crt
chmod 0600 master.key slave.key
echo "certificates written to $dir"
