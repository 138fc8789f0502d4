//! Per-principal budgets of server time. A GraphQL request is metered by the time its
//! execution occupies a server thread (not the time it waits for the log or for a
//! thread); each principal's bucket refills at a fixed rate, and a principal whose bucket
//! is empty is answered 429 at once, before its body is read. So one principal's
//! expensive or refused requests cannot take the threads everyone else's answers need.

use lineage_schema::PrincipalId;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least a refused request (malformed, too large, too deep) is charged: refusing it
/// is cheap, but a principal that keeps sending them is not well-behaved.
pub const REFUSAL_COST: Duration = Duration::from_millis(2);
/// Past this many principals, buckets that are full again are forgotten.
const MAX_TRACKED: usize = 10_000;

/// The default share: half the time of the machine's threads, so that no one principal
/// can take more than half the server.
pub fn default_per_principal() -> Duration {
    let threads = std::thread::available_parallelism().map_or(1, |threads| threads.get());
    Duration::from_millis(500 * threads as u64)
}

#[derive(Debug)]
struct Bucket {
    /// Seconds of server time left; below zero after a request costlier than expected.
    left: f64,
    refilled: Instant,
    /// What this principal's requests usually cost, charged up front so that many
    /// requests admitted at once cannot all spend the same budget.
    typical: f64,
}

/// Buckets of server time per principal.
#[derive(Debug)]
pub struct Budgets {
    /// Seconds of server time each principal may use per second (0: unlimited).
    rate: f64,
    /// How much may be spent at once, from a full bucket.
    capacity: f64,
    buckets: Mutex<HashMap<PrincipalId, Bucket>>,
}

/// A request let in, with what was charged for it up front.
#[derive(Debug)]
pub struct Admitted {
    charged: f64,
}

impl Budgets {
    /// `per_second` of server time per principal and second; a full bucket holds a
    /// quarter of that, so a burst spends at most that much at once.
    pub fn new(per_second: Duration) -> Self {
        let rate = per_second.as_secs_f64();
        Self {
            rate,
            capacity: rate / 4.0,
            buckets: Mutex::default(),
        }
    }

    /// Lets a request of `who` in and charges what its requests usually cost, or says how
    /// long until its bucket has refilled enough.
    pub fn admit(&self, who: &PrincipalId) -> Result<Admitted, Duration> {
        if self.rate == 0.0 {
            return Ok(Admitted { charged: 0.0 });
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("budgets lock");
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(who) {
            let (rate, capacity) = (self.rate, self.capacity);
            buckets.retain(|_, bucket| refilled(bucket, now, rate, capacity) < capacity);
        }
        let bucket = buckets.entry(who.clone()).or_insert(Bucket {
            left: self.capacity,
            refilled: now,
            typical: 0.0,
        });
        bucket.left = refilled(bucket, now, self.rate, self.capacity);
        bucket.refilled = now;
        if bucket.left <= 0.0 {
            return Err(Duration::from_secs_f64(-bucket.left / self.rate).max(Duration::from_millis(1)));
        }
        bucket.left -= bucket.typical;
        Ok(Admitted {
            charged: bucket.typical,
        })
    }

    /// Charges what the request really cost, in place of what was charged up front.
    pub fn settle(&self, who: &PrincipalId, admitted: Admitted, spent: Duration) {
        if self.rate == 0.0 {
            return;
        }
        let spent = spent.as_secs_f64();
        if let Some(bucket) = self.buckets.lock().expect("budgets lock").get_mut(who) {
            bucket.left += admitted.charged - spent;
            bucket.typical = if bucket.typical == 0.0 {
                spent
            } else {
                0.8 * bucket.typical + 0.2 * spent
            };
        }
    }
}

fn refilled(bucket: &Bucket, now: Instant, rate: f64, capacity: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
    (bucket.left + elapsed * rate).min(capacity)
}

/// Why a request of `who` is turned away when its bucket is empty (HTTP and WebSocket).
pub fn spent_message(who: &PrincipalId, retry_after: Duration) -> String {
    let millis = retry_after.as_millis().max(1);
    format!("{who} has used its share of the server's time; retry in {millis} ms")
}

/// Why a request waited its whole time for a turn among its principal's running ones.
pub fn crowded_message(max_in_flight: usize) -> String {
    format!("more than {max_in_flight} requests of this principal are running; retry later")
}

/// Why a request was stopped at its time limit.
pub fn too_long_message(limit: Duration) -> String {
    format!("the request took longer than {limit:?} and was stopped")
}

/// Runs `future` and measures the time spent inside its polls: the time it occupied a
/// thread, without the time it waited.
pub async fn metered<F: Future>(future: F) -> (F::Output, Duration) {
    let mut future = std::pin::pin!(future);
    let mut spent = Duration::ZERO;
    let output = std::future::poll_fn(|context| {
        let started = Instant::now();
        let poll = future.as_mut().poll(context);
        spent += started.elapsed();
        poll
    })
    .await;
    (output, spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(name: &str) -> PrincipalId {
        PrincipalId::new(name).unwrap()
    }

    #[test]
    fn a_principal_that_spends_its_budget_waits_and_others_do_not() {
        let budgets = Budgets::new(Duration::from_millis(400));
        let (heavy, light) = (who("u-heavy"), who("u-light"));
        // The bucket holds 100 ms: one 150 ms request overdraws it.
        let admitted = budgets.admit(&heavy).unwrap();
        budgets.settle(&heavy, admitted, Duration::from_millis(150));
        let retry = budgets.admit(&heavy).unwrap_err();
        assert!(
            retry > Duration::from_millis(50) && retry <= Duration::from_millis(130),
            "{retry:?}"
        );
        assert!(budgets.admit(&light).is_ok());
        std::thread::sleep(retry + Duration::from_millis(20));
        assert!(budgets.admit(&heavy).is_ok(), "the bucket refills");
    }

    #[test]
    fn requests_admitted_together_are_charged_what_they_usually_cost() {
        let budgets = Budgets::new(Duration::from_millis(400));
        let heavy = who("u-heavy");
        let first = budgets.admit(&heavy).unwrap();
        budgets.settle(&heavy, first, Duration::from_millis(60));
        // 40 ms left; each new request is charged 60 ms up front, so only one more gets in.
        let second = budgets.admit(&heavy).unwrap();
        assert!(budgets.admit(&heavy).is_err());
        budgets.settle(&heavy, second, Duration::from_millis(1));
        assert!(budgets.admit(&heavy).is_ok(), "a cheap request gives back the charge");
    }

    #[test]
    fn zero_means_unlimited() {
        let budgets = Budgets::new(Duration::ZERO);
        for _ in 0..100 {
            let admitted = budgets.admit(&who("u-any")).unwrap();
            budgets.settle(&who("u-any"), admitted, Duration::from_secs(1));
        }
    }

    #[tokio::test]
    async fn metering_counts_time_in_polls_not_time_waiting() {
        let (value, spent) = metered(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            std::thread::sleep(Duration::from_millis(5));
            7
        })
        .await;
        assert_eq!(value, 7);
        assert!(
            spent >= Duration::from_millis(5) && spent < Duration::from_millis(45),
            "{spent:?}"
        );
    }
}
