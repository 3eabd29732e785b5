//! Where the tests' input files are, named once: the normative examples of the spec
//! (`shared/spec/examples`, beside this repository), the workspace's mission examples
//! (`examples/missions`), and the test-only JWT keys (`runtime/tests/fixtures`, which runtime's
//! own unit tests include).

use std::path::PathBuf;

/// `shared/spec/examples`: `transactions.csv`, `expected.csv`, `reference-config.json`, …
pub const SPEC_EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/examples");

/// `shared/spec/examples/reference-config.json`.
pub const REFERENCE_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/spec/examples/reference-config.json"
);

/// The workspace's `examples/missions`.
pub const MISSION_EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/missions");

/// `examples/missions/gen-missions.json`: missions that `spend gen`'s spend completes, expires and
/// claws back.
pub const GEN_MISSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/missions/gen-missions.json"
);

/// The test-only RSA key pairs (`rs256-private.pem`, `rs256-public.pem`, `rs256-other-*`).
pub const JWT_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/tests/fixtures");

/// A file of [`SPEC_EXAMPLES`].
pub fn spec_example(name: &str) -> PathBuf {
    PathBuf::from(SPEC_EXAMPLES).join(name)
}

/// A file of [`SPEC_EXAMPLES`], read whole.
pub fn read_spec_example(name: &str) -> Vec<u8> {
    let path = spec_example(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A file of [`MISSION_EXAMPLES`].
pub fn mission_example(name: &str) -> PathBuf {
    PathBuf::from(MISSION_EXAMPLES).join(name)
}

/// A key file of [`JWT_KEYS`].
pub fn jwt_key(name: &str) -> PathBuf {
    PathBuf::from(JWT_KEYS).join(name)
}
