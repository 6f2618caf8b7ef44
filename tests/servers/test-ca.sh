#!/usr/bin/env bash
# Throwaway test PKI for the mailtls integration tests.
#
# Usage: bash tests/servers/test-ca.sh CA_DIR
#
# Creates in CA_DIR (only what is missing, so several server scripts can
# share one CA):
#   ca.pem, ca.key           test CA (trusted by the tests)
#   server.pem, server.key   server cert signed by it: CN=localhost,
#                            SAN DNS:localhost, IP:127.0.0.1
#   server.sha256            SHA-256 of server.pem's DER, lowercase hex
#   other-ca.pem             unrelated CA, for "untrusted CA" tests
#   other-server.pem, .key   a leaf like server.pem but signed by other-ca,
#                            for servers that send a full untrusted chain
#   revoked-server.pem, .key a leaf like server.pem that the OCSP responder
#                            says is revoked
#   ocsp.port, ocsp-index.txt  where the leaves' OCSP URL points and the
#                            responder's database (tests/windows/run.sh
#                            starts `openssl ocsp` there: Wine's SChannel
#                            refuses a leaf without revocation information;
#                            OpenSSL clients do not ask)
#
# EC P-256 keys: fast to generate and accepted by both rustls and OpenSSL.
set -euo pipefail

ca_dir=${1:?usage: test-ca.sh CA_DIR}
days=30

mkdir -p "$ca_dir"
cd "$ca_dir"
umask 077 # private keys must not be world-readable

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# Self-signed CA certificate: $1 = basename, $2 = CN.
new_ca() {
	new_key "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days "$days" \
		-subj "/O=mailtls tests/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" \
		-out "$1.pem"
}

if [[ ! -s ca.pem || ! -s ca.key ]]; then
	new_ca ca "mailtls test CA"
	rm -f server.pem # signed by a CA that is gone
fi
# Same shape as the real CA but a different key: chains to nothing we serve.
[[ -s other-ca.pem ]] || new_ca other-ca "mailtls other test CA"

# The port of the OCSP URL in the leaves, picked once per CA directory.
if [[ ! -s ocsp.port ]]; then
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >ocsp.port
	rm -f server.pem other-server.pem # their OCSP URL would be stale
fi

# A leaf for localhost and 127.0.0.1: $1 = basename, $2 = issuing CA's basename.
new_leaf() {
	new_key "$1.key"
	# WebPKI (rustls) wants a leaf with SAN, serverAuth EKU and CA:FALSE.
	cat >"$1.ext" <<-EOF
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:localhost, IP:127.0.0.1
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
		authorityInfoAccess = OCSP;URI:http://127.0.0.1:$(<ocsp.port)/
	EOF
	openssl req -new -key "$1.key" -subj "/O=mailtls tests/CN=localhost" -out "$1.csr"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
		-CAserial "$2.srl" -sha256 -days "$days" -extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

if [[ ! -s server.pem || ! -s server.key ]]; then
	new_leaf server ca
	rm -f ocsp-index.txt
fi
[[ -s other-server.pem && -s other-server.key ]] || new_leaf other-server other-ca
if [[ ! -s revoked-server.pem || ! -s revoked-server.key ]]; then
	new_leaf revoked-server ca
	rm -f ocsp-index.txt
fi

# The OCSP responder's database (`openssl ca` index format): server.pem is
# valid, revoked-server.pem revoked since it was made.
index_line() { # STATUS CERT REVOKED_AT
	local serial expiry
	serial=$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)
	expiry=$(date -u -d "$(openssl x509 -in "$2" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
	printf '%s\t%s\t%s\t%s\tunknown\t/O=mailtls tests/CN=localhost\n' "$1" "$expiry" "$3" "$serial"
}
if [[ ! -s ocsp-index.txt ]]; then
	{
		index_line V server.pem ''
		index_line R revoked-server.pem "$(date -u +%y%m%d%H%M%SZ)"
	} >ocsp-index.txt
fi

openssl x509 -in server.pem -outform DER | sha256sum | cut -d' ' -f1 >server.sha256

# Certificates are public; let non-root test processes read them.
chmod 0644 ca.pem other-ca.pem server.pem other-server.pem revoked-server.pem server.sha256 ocsp.port ocsp-index.txt
