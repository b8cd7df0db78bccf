//! The clock and the storage work of one request (for `Server-Timing` and the log line). A leaf:
//! it imports nothing from the crate, so `store`, `ratelimit` and `http` can count and time
//! their work without depending on `Ctx`.

use std::cell::RefCell;
use std::rc::Rc;

/// Milliseconds since the epoch, from the JavaScript clock (`SystemTime` panics on wasm32).
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Storage work done by this request, by kind.
#[derive(Debug, Default)]
pub struct Timing {
    pub kv_reads: u32,
    pub kv_writes: u32,
    pub kv_ms: f64,
    pub d1_statements: u32,
    pub d1_ms: f64,
    /// Calls to the rate limiter's Durable Object.
    pub rl_calls: u32,
    /// Rate-limit decisions taken from this isolate's lease, with no call.
    pub rl_local: u32,
    pub rl_ms: f64,
    /// D1 statements scheduled to run after the response (through `wait_until`): announced
    /// here, since they cannot be timed before the response leaves.
    pub d1_after: u32,
}

impl Timing {
    /// `kv;desc="1 read";dur=0.8, d1;desc="2 queries";dur=3.1, total;dur=5.0`: only the kinds of
    /// storage the request touched appear, so a refusal at the edge shows no `d1`.
    pub fn header(&self, total_ms: f64) -> String {
        let mut parts = Vec::new();
        // One entry per kind of storage touched, naming only the counts that are not zero.
        let mut entry = |name: &str, counts: &[(u32, &str)], ms: f64| {
            let what: Vec<String> = counts
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|&(n, word)| plural(n, word))
                .collect();
            if !what.is_empty() {
                parts.push(format!("{name};desc=\"{}\";dur={ms:.1}", what.join(", ")));
            }
        };
        entry(
            "kv",
            &[(self.kv_reads, "read"), (self.kv_writes, "write")],
            self.kv_ms,
        );
        entry("d1", &[(self.d1_statements, "query")], self.d1_ms);
        entry(
            "rl",
            &[(self.rl_calls, "call"), (self.rl_local, "local")],
            self.rl_ms,
        );
        if self.d1_after > 0 {
            parts.push(format!(
                "d1-after;desc=\"{}\"",
                plural(self.d1_after, "query")
            ));
        }
        parts.push(format!("total;dur={total_ms:.1}"));
        parts.join(", ")
    }
}

fn plural(n: u32, word: &str) -> String {
    match (n, word) {
        (1, w) => format!("1 {w}"),
        (n, "query") => format!("{n} queries"),
        (n, "local") => format!("{n} local"),
        (n, w) => format!("{n} {w}s"),
    }
}

pub type SharedTiming = Rc<RefCell<Timing>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_names_only_the_storage_touched() {
        let t = Timing::default();
        assert_eq!(t.header(1.0), "total;dur=1.0");
        let t = Timing {
            kv_reads: 1,
            kv_ms: 0.8,
            d1_statements: 2,
            d1_ms: 3.12,
            ..Default::default()
        };
        assert_eq!(
            t.header(5.0),
            "kv;desc=\"1 read\";dur=0.8, d1;desc=\"2 queries\";dur=3.1, total;dur=5.0"
        );
        let t = Timing {
            kv_writes: 2,
            d1_statements: 1,
            ..Default::default()
        };
        let t2 = Timing {
            rl_calls: 1,
            rl_ms: 0.44,
            ..Default::default()
        };
        assert_eq!(t2.header(2.0), "rl;desc=\"1 call\";dur=0.4, total;dur=2.0");
        let t3 = Timing {
            rl_local: 1,
            ..Default::default()
        };
        assert_eq!(t3.header(2.0), "rl;desc=\"1 local\";dur=0.0, total;dur=2.0");
        assert_eq!(
            t.header(0.0),
            "kv;desc=\"2 writes\";dur=0.0, d1;desc=\"1 query\";dur=0.0, total;dur=0.0"
        );
        let t4 = Timing {
            d1_statements: 1,
            d1_after: 1,
            ..Default::default()
        };
        assert_eq!(
            t4.header(1.0),
            "d1;desc=\"1 query\";dur=0.0, d1-after;desc=\"1 query\", total;dur=1.0"
        );
    }
}
