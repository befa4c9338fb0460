# Sourced by kafka.sh when KAFKA_TLS_PORT or KAFKA_SASL_SSL_PORT is set: a TLS listener (clients
# must present a certificate signed by the test CA) and a SASL_SSL listener (PLAIN, SCRAM-SHA-256,
# SCRAM-SHA-512 and unsecured OAUTHBEARER), with certificates made by the JDK's keytool at every
# start and a fresh random password. Everything a client needs is written to $SERVICE_DIR/tls:
#   ca.pem, client-cert.pem, client-key.pem    PEM files for the client's TLS options
#   security.json                             ports, file paths, the SASL user and its password
# openssl only converts the client's PKCS#12 key store to a PEM key (keytool cannot export keys).

SECURITY_DIR="$SERVICE_DIR/tls"
SASL_USER="${KAFKA_SASL_USER:-kstreams}"

security_enabled() { [ -n "${KAFKA_TLS_PORT:-}" ] || [ -n "${KAFKA_SASL_SSL_PORT:-}" ]; }

# A random secret in hex (no character that needs escaping in JAAS or JSON).
random_secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

make_certificates() {
  require_command keytool "the JDK's keytool is required to make the test certificates"
  require_command openssl "openssl is required to export the client's key as PEM"
  rm -rf "$SECURITY_DIR"
  mkdir -p "$SECURITY_DIR"
  local dir="$SECURITY_DIR" store_password
  store_password="$(random_secret)"
  local common=(-storetype PKCS12 -storepass "$store_password" -keypass "$store_password" -keyalg RSA -keysize 2048 -validity 30)
  {
    keytool -genkeypair -alias ca -dname "CN=kstreams test CA" -ext bc:c -keystore "$dir/ca.p12" "${common[@]}"
    keytool -exportcert -rfc -alias ca -keystore "$dir/ca.p12" -storepass "$store_password" -file "$dir/ca.pem"
    keytool -importcert -noprompt -alias ca -file "$dir/ca.pem" -keystore "$dir/truststore.p12" \
      -storetype PKCS12 -storepass "$store_password"
    local name
    for name in broker client; do
      keytool -genkeypair -alias "$name" -dname "CN=kstreams-$name" -keystore "$dir/$name.p12" "${common[@]}"
      keytool -certreq -alias "$name" -keystore "$dir/$name.p12" -storepass "$store_password" -file "$dir/$name.csr"
      keytool -gencert -rfc -alias ca -keystore "$dir/ca.p12" -storepass "$store_password" -validity 30 \
        -ext "SAN=dns:localhost,ip:127.0.0.1" -infile "$dir/$name.csr" -outfile "$dir/$name-cert.pem"
      keytool -importcert -noprompt -alias ca -file "$dir/ca.pem" -keystore "$dir/$name.p12" -storepass "$store_password"
      keytool -importcert -noprompt -alias "$name" -file "$dir/$name-cert.pem" -keystore "$dir/$name.p12" \
        -storepass "$store_password"
    done
    openssl pkcs12 -in "$dir/client.p12" -passin "pass:$store_password" -nodes -nocerts -out "$dir/client-key.pem"
  } >>"$LOG_FILE" 2>&1 || { tail -n 20 "$LOG_FILE" >&2; die "making the test certificates failed (log: $LOG_FILE)"; }
  STORE_PASSWORD="$store_password"
  SASL_PASSWORD="$(random_secret)"
  (umask 077 && printf '%s\n%s\n' "$STORE_PASSWORD" "$SASL_PASSWORD" >"$dir/secrets")
}

# A restart on kept data keeps the certificates and the password (the SCRAM credentials are in
# the kept cluster metadata); any other start makes new ones.
prepare_security() { # keep (1 or 0)
  if [ "$1" = 1 ] && [ -f "$SECURITY_DIR/secrets" ]; then
    STORE_PASSWORD="$(sed -n 1p "$SECURITY_DIR/secrets")"
    SASL_PASSWORD="$(sed -n 2p "$SECURITY_DIR/secrets")"
  else
    make_certificates
  fi
  write_security_json
}

# Prints the server.properties lines of the secure listeners (after make_certificates).
security_properties() {
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  [ -n "${KAFKA_TLS_PORT:-}" ] && listeners="$listeners,SSL://127.0.0.1:$KAFKA_TLS_PORT" && map="$map,SSL:SSL"
  [ -n "${KAFKA_SASL_SSL_PORT:-}" ] &&
    listeners="$listeners,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT" && map="$map,SASL_SSL:SASL_SSL"
  cat <<EOF

# Secure listeners (tooling/services/kafka/security.sh)
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
listener.security.protocol.map=$map
ssl.keystore.type=PKCS12
ssl.keystore.location=$SECURITY_DIR/broker.p12
ssl.keystore.password=$STORE_PASSWORD
ssl.key.password=$STORE_PASSWORD
ssl.truststore.type=PKCS12
ssl.truststore.location=$SECURITY_DIR/truststore.p12
ssl.truststore.password=$STORE_PASSWORD
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="$SASL_USER";
EOF
}

# Arguments for StorageTool format: the SCRAM credentials live in the cluster metadata (KRaft).
scram_format_arguments() {
  echo "--add-scram" "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
    "--add-scram" "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]"
}

write_security_json() {
  cat >"$SECURITY_DIR/security.json" <<EOF
{
  "tlsPort": ${KAFKA_TLS_PORT:-null},
  "saslSslPort": ${KAFKA_SASL_SSL_PORT:-null},
  "caFile": "$SECURITY_DIR/ca.pem",
  "clientCertFile": "$SECURITY_DIR/client-cert.pem",
  "clientKeyFile": "$SECURITY_DIR/client-key.pem",
  "username": "$SASL_USER",
  "password": "$SASL_PASSWORD"
}
EOF
  chmod 600 "$SECURITY_DIR/security.json"
}
