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

if [[ ! -s server.pem || ! -s server.key ]]; then
	new_key server.key
	# WebPKI (rustls) wants a leaf with SAN, serverAuth EKU and CA:FALSE.
	cat >server.ext <<-'EOF'
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:localhost, IP:127.0.0.1
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
	EOF
	openssl req -new -key server.key -subj "/O=mailtls tests/CN=localhost" -out server.csr
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-CAserial ca.srl -sha256 -days "$days" -extfile server.ext -out server.pem 2>/dev/null
	rm -f server.csr server.ext
fi

openssl x509 -in server.pem -outform DER | sha256sum | cut -d' ' -f1 >server.sha256

# Certificates are public; let non-root test processes read them.
chmod 0644 ca.pem other-ca.pem server.pem server.sha256
