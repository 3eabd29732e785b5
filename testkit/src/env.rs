//! Where a test finds its servers: `SPEND_TEST_*` variables (`scripts/services.sh env` prints
//! them; `scripts/test.sh`, which CI runs through `.ci/run`, sets them). A missing one is a
//! failure under CI and a skip, said past the test harness's capture, elsewhere.

use std::io::Write;

/// Whether the tests run under CI: `CI` is set to anything but empty, `false` or `0` (CI
/// services set `CI=true`; `scripts/test.sh` reads the same variable).
pub fn running_under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Writes `message` to stderr past the test harness's capture, so that a skip is seen even when
/// the test passes.
pub fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Something a test needs is not there (`missing` says what, and how to get it): under CI a
/// failure, otherwise says the test is skipped and returns (the caller returns too).
#[track_caller]
pub fn skip_or_fail(missing: &str) {
    assert!(
        !running_under_ci(),
        "{missing}, but CI is set: the tests under CI run with every server \
         (scripts/test.sh installs and starts them)"
    );
    say(&format!("skipped: {missing}"));
}

/// The value of `name` (a `SPEND_TEST_*` variable). Unset or empty: under CI a failure,
/// otherwise `None` after saying the test is skipped.
#[track_caller]
pub fn server_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            skip_or_fail(&format!(
                "{name} is not set (eval \"$(bash scripts/services.sh env)\")"
            ));
            None
        }
    }
}
