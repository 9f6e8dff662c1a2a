#!/usr/bin/env bash
# make_test_certs.sh DIR: throwaway TLS material for the exporter's TLS tests, made at run time
# (never checked in, so nothing expires in the repository). EC P-256 keys: fast to make.
#   ca.pem ca-key.pem                 the trusted test CA
#   server.pem server-key.pem         localhost + IP 127.0.0.1, signed by ca
#   client.pem client-key.pem         clientAuth, signed by ca (mutual TLS)
#   other.pem other-key.pem           a valid certificate for another name (other.example)
#   expired.pem expired-key.pem       localhost + 127.0.0.1, signed by ca, expired in 2020
#   rogue-ca.pem rogue.pem rogue-key.pem   localhost + 127.0.0.1 signed by an untrusted CA
set -euo pipefail
DIR=$1
mkdir -p "$DIR"
cd "$DIR"
ossl() { local out; out=$(openssl "$@" 2>&1) || { echo "openssl $*: $out" >&2; return 1; }; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() {  # ca NAME CN
  key "$1-key.pem"
  ossl req -x509 -new -key "$1-key.pem" -sha256 -days 30 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}
csr() {  # csr NAME CN EXT
  key "$1-key.pem"
  ossl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1.csr"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$3" >"$1.ext"
}
leaf() {  # leaf NAME CN EXT CA
  csr "$1" "$2" "$3"
  ossl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
    -sha256 -days 30 -extfile "$1.ext" -out "$1.pem"
}
SERVER_EXT=$'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost'
ca ca "spanring test CA"
ca rogue-ca "untrusted test CA"
leaf server localhost "$SERVER_EXT" ca
leaf client spanring-test-client "extendedKeyUsage=clientAuth" ca
leaf other other.example $'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:other.example' ca
leaf rogue localhost "$SERVER_EXT" rogue-ca
# An expired certificate needs explicit dates, which only `openssl ca` takes (-startdate/-enddate).
csr expired localhost "$SERVER_EXT"
: >index.txt
printf '%s\n' "[ca]" "default_ca=d" "[d]" "database=index.txt" "new_certs_dir=." "serial=serial" \
  "default_md=sha256" "policy=p" "[p]" "commonName=supplied" >ca.cnf
echo 01 >serial
ossl ca -batch -config ca.cnf -cert ca.pem -keyfile ca-key.pem -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200102000000Z -extfile expired.ext -notext
