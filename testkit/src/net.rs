//! Loopback ports.

/// A loopback port nothing listens on right now (bound, then released: the caller takes it at
/// once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
