//! The clock and the storage work of one request (for `Server-Timing` and the log line). A leaf:
//! it imports nothing from the crate, so `store`, `ratelimit` and `http` can count and time
//! their work without depending on `Ctx`.

use std::cell::RefCell;
use std::fmt::Write as _;
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
        let mut out = String::new();
        self.write_header(&mut out, total_ms);
        out
    }

    /// [`Timing::header`], written straight into `out` (the response's header buffer): it is
    /// formatted on every request, so with no string per entry or count.
    pub fn write_header(&self, out: &mut String, total_ms: f64) {
        // One entry per kind of storage touched, naming only the counts that are not zero.
        let entry = |out: &mut String, name: &str, counts: &[(u32, &str)], ms: f64| {
            if counts.iter().all(|(n, _)| *n == 0) {
                return;
            }
            out.push_str(name);
            out.push_str(";desc=\"");
            let mut sep = "";
            for &(n, word) in counts.iter().filter(|(n, _)| *n > 0) {
                out.push_str(sep);
                plural(out, n, word);
                sep = ", ";
            }
            let _ = write!(out, "\";dur={ms:.1}, ");
        };
        entry(
            out,
            "kv",
            &[(self.kv_reads, "read"), (self.kv_writes, "write")],
            self.kv_ms,
        );
        entry(out, "d1", &[(self.d1_statements, "query")], self.d1_ms);
        entry(
            out,
            "rl",
            &[(self.rl_calls, "call"), (self.rl_local, "local")],
            self.rl_ms,
        );
        if self.d1_after > 0 {
            out.push_str("d1-after;desc=\"");
            plural(out, self.d1_after, "query");
            out.push_str("\", ");
        }
        let _ = write!(out, "total;dur={total_ms:.1}");
    }
}

fn plural(out: &mut String, n: u32, word: &str) {
    let _ = match (n, word) {
        (1, w) => write!(out, "1 {w}"),
        (n, "query") => write!(out, "{n} queries"),
        (n, "local") => write!(out, "{n} local"),
        (n, w) => write!(out, "{n} {w}s"),
    };
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
