//! Capped exponential backoff for a backend that is down, and the one retry policy built on it
//! ([`Retry`]) that the worker, the writer and the publisher use.

use std::fmt::Display;
use std::time::Duration;

use spend_runtime::metrics::Counter;
use spend_store::reward_store::RewardStoreError;
use tokio_util::sync::CancellationToken;

/// Delays that double from `min` up to `max`.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The delay before the next attempt; each call doubles the following one, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// An error of a retried call that says whether trying again may help.
pub(crate) trait Retryable: Display {
    fn is_retryable(&self) -> bool;
}

impl Retryable for RewardStoreError {
    fn is_retryable(&self) -> bool {
        RewardStoreError::is_retryable(self)
    }
}

/// A dead-letter topic that did not take a message: the producer has already retried within its
/// own timeout, so this is the broker in trouble, and the message is sent again.
impl Retryable for rdkafka::error::KafkaError {
    fn is_retryable(&self) -> bool {
        true
    }
}

/// The one retry policy of the rewarder's worker, writer and publisher: after a failed attempt,
/// decide whether to try again and wait for it. A call site keeps its own loop (its attempt may
/// need state between attempts, such as the messages still to send), and leaves the rest here:
///
/// ```text
/// let mut retry = Retry::new(&mut self.backoff, &self.abort, "writing outcomes", &m.retry_apply);
/// let applied = loop {
///     match store.apply(&outcomes).await {
///         Ok(applied) => break Some(applied),
///         Err(error) => if !retry.again(error).await? { break None },
///     }
/// };
/// ```
///
/// (A function taking the attempt as an async closure would read better, but the future of an
/// async closure that borrows its state is not provably `Send` to `tokio::spawn` today.)
pub(crate) struct Retry<'a> {
    backoff: &'a mut Backoff,
    abort: &'a CancellationToken,
    /// The call, as the log reads it: "reading the reward store".
    what: &'static str,
    /// Counts each failed attempt that is retried.
    retries: &'a Counter,
}

impl<'a> Retry<'a> {
    /// A new series of attempts: the first retry waits the backoff's shortest delay.
    pub(crate) fn new(
        backoff: &'a mut Backoff,
        abort: &'a CancellationToken,
        what: &'static str,
        retries: &'a Counter,
    ) -> Self {
        backoff.reset();
        Retry {
            backoff,
            abort,
            what,
            retries,
        }
    }

    /// After an attempt failed with `error`: `Err(error)` when retrying cannot help; otherwise
    /// counts and logs the failure and waits the next, doubled delay, then `Ok(true)` to try
    /// again, or `Ok(false)` when `abort` fired during the wait (give up, keep the offsets).
    pub(crate) async fn again<E: Retryable>(&mut self, error: E) -> Result<bool, E> {
        if !error.is_retryable() {
            return Err(error);
        }
        self.retries.inc();
        let retry_in = self.backoff.next_delay();
        tracing::warn!(%error, ?retry_in, "{} failed; retrying", self.what);
        Ok(tokio::select! {
            _ = self.abort.cancelled() => false,
            _ = tokio::time::sleep(retry_in) => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Down(bool);

    impl Display for Down {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(if self.0 { "down" } else { "corrupt" })
        }
    }

    impl Retryable for Down {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    /// Tries `results` in turn through a `Retry`, as the call sites do.
    async fn attempts(
        results: &mut Vec<Result<u32, Down>>,
        abort: &CancellationToken,
        retries: &Counter,
    ) -> Result<Option<u32>, Down> {
        let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        let mut retry = Retry::new(&mut backoff, abort, "testing", retries);
        loop {
            match results.remove(0) {
                Ok(v) => return Ok(Some(v)),
                Err(e) => {
                    if !retry.again(e).await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn retries_what_may_pass() {
        let retries = Counter::default();
        let mut results = vec![Err(Down(true)), Err(Down(true)), Ok(7)];
        let done = attempts(&mut results, &CancellationToken::new(), &retries).await;
        assert_eq!(done.unwrap(), Some(7));
        assert_eq!(retries.get(), 2);
    }

    #[tokio::test]
    async fn stops_at_an_error_retrying_cannot_fix() {
        let retries = Counter::default();
        let mut results = vec![Err(Down(true)), Err(Down(false)), Ok(7)];
        let e = attempts(&mut results, &CancellationToken::new(), &retries)
            .await
            .unwrap_err();
        assert!(!e.0);
        assert_eq!(retries.get(), 1);
    }

    #[tokio::test]
    async fn gives_up_when_aborted_while_waiting() {
        let retries = Counter::default();
        let abort = CancellationToken::new();
        abort.cancel();
        let mut results = vec![Err(Down(true)), Ok(7)];
        let gave_up = attempts(&mut results, &abort, &retries).await;
        assert_eq!(gave_up.unwrap(), None);
        assert_eq!(retries.get(), 1);
        assert_eq!(results.len(), 1, "no attempt after the abort");
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(700));
        let delays: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
