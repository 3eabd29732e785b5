//! librdkafka, as this workspace builds it (`rdkafka` with `ssl`), reaches a secured cluster: it
//! has TLS and SASL PLAIN/SCRAM, and a client configured from [`KafkaArgs`] with
//! `--kafka-security-protocol ssl --kafka-ssl-ca-location CA` verifies the broker's certificate
//! and then speaks Kafka over the TLS session.
//!
//! The broker here is a stand-in that only does what the check needs: a real TLS handshake with a
//! certificate signed by nothing but itself, then it reads the first Kafka request.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use spend_kafka::{client_config, KafkaArgs};

/// A self-signed certificate for `localhost` and its key.
fn self_signed() -> (X509, PKey<Private>) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    cert.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (cert.build(), key)
}

#[test]
fn librdkafka_is_built_with_tls_and_sasl_scram() {
    let native = ClientConfig::new().create_native_config().unwrap();
    let features = native.get("builtin.features").unwrap();
    for feature in ["ssl", "sasl_plain", "sasl_scram"] {
        assert!(
            features.split(',').any(|f| f == feature),
            "librdkafka lacks {feature}: {features}"
        );
    }
    // A SASL_SSL + SCRAM client is accepted as configured (librdkafka refuses the mechanism at
    // creation when it was built without it).
    let mut args = KafkaArgs::new("localhost:1");
    args.security_protocol = "sasl_ssl".into();
    args.sasl_mechanism = Some("SCRAM-SHA-512".into());
    args.sasl_username = Some("spend".into());
    args.sasl_password = Some("secret".into());
    let created: Result<BaseProducer, _> = client_config(&args).create();
    assert!(created.is_ok(), "{:?}", created.err());
}

/// Starts a one-connection TLS stand-in broker, points an `ssl` client at it (given the broker's
/// certificate as its CA, or not) and returns what the stand-in saw: the first request's api
/// key, or why the handshake failed.
fn first_request_over_tls(trust_the_broker: bool) -> Result<i16, String> {
    let (cert, key) = self_signed();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.to_pem().unwrap()).unwrap();
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    acceptor.set_certificate(&cert).unwrap();
    acceptor.set_private_key(&key).unwrap();
    let acceptor = acceptor.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = std::thread::spawn(move || -> Result<i16, String> {
        let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        let mut tls = acceptor
            .accept(stream)
            .map_err(|e| format!("TLS handshake: {e}"))?;
        // A Kafka request: length (i32), then api_key (i16) first in the header.
        let mut frame = [0u8; 6];
        tls.read_exact(&mut frame).map_err(|e| e.to_string())?;
        Ok(i16::from_be_bytes([frame[4], frame[5]]))
    });

    let mut args = KafkaArgs::new(format!("127.0.0.1:{port}"));
    args.security_protocol = "ssl".into();
    args.ssl_ca_location = trust_the_broker.then_some(ca);
    let producer: BaseProducer = client_config(&args)
        .set("socket.timeout.ms", "20000")
        .create()
        .expect("an ssl client");
    // Metadata makes the client connect; the stand-in never answers, so this times out.
    let client = std::thread::spawn(move || {
        let _ = producer
            .client()
            .fetch_metadata(None, Duration::from_secs(5));
    });
    let seen = broker.join().unwrap();
    client.join().unwrap();
    seen
}

#[test]
fn an_ssl_client_verifies_the_broker_then_speaks_kafka_over_tls() {
    let api_key = first_request_over_tls(true).expect("a verified TLS session");
    assert_eq!(api_key, 18, "the first request over TLS is ApiVersions");
}

#[test]
fn an_ssl_client_refuses_a_broker_its_ca_did_not_sign() {
    let seen = first_request_over_tls(false);
    assert!(
        matches!(&seen, Err(e) if e.starts_with("TLS handshake")),
        "{seen:?}"
    );
}
