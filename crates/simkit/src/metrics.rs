//! Hand-written Prometheus metrics (text exposition format 0.0.4): request counters per route
//! and HTTP status, function outcomes per route and SGP.22 status code, a latency histogram per
//! route, and outbox delivery counters. Label values come from fixed sets (known routes, status
//! codes from our own code tables), so cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    functions: BTreeMap<(&'static str, String), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    outbox: BTreeMap<&'static str, u64>,
}

/// Shared metric registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Outbox delivery results.
pub mod outbox_result {
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
    pub const NO_CALLBACK: &str = "no_callback";
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One HTTP request on `route` answered with `status` after `elapsed`.
    pub fn observe_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut m = self.lock();
        *m.requests.entry((route, status)).or_default() += 1;
        let h = m.latency.entry(route).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// A function on `route` finished with `outcome` ("Executed-Success" or "subject/reason").
    pub fn observe_function(&self, route: &'static str, outcome: String) {
        *self.lock().functions.entry((route, outcome)).or_default() += 1;
    }

    pub fn observe_outbox(&self, result: &'static str) {
        *self.lock().outbox.entry(result).or_default() += 1;
    }

    /// The exposition text; `profiles` are (type, state, count) gauges read at scrape time.
    pub fn render(&self, profiles: &[(String, String, u64)]) -> String {
        let m = self.lock().clone_data();
        let mut out = String::new();
        out.push_str("# HELP simkit_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE simkit_http_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "simkit_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP simkit_function_results_total SGP.22 function results by route and status code.\n",
        );
        out.push_str("# TYPE simkit_function_results_total counter\n");
        for ((route, outcome), n) in &m.functions {
            let _ = writeln!(
                out,
                "simkit_function_results_total{{route=\"{route}\",result=\"{}\"}} {n}",
                escape(outcome)
            );
        }
        out.push_str("# HELP simkit_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE simkit_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            for (le, n) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "simkit_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "simkit_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "simkit_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "simkit_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP simkit_outbox_deliveries_total ES2+.HandleDownloadProgressInfo deliveries.\n",
        );
        out.push_str("# TYPE simkit_outbox_deliveries_total counter\n");
        for (result, n) in &m.outbox {
            let _ = writeln!(
                out,
                "simkit_outbox_deliveries_total{{result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP simkit_smdp_profiles Profiles in the inventory by type and state.\n");
        out.push_str("# TYPE simkit_smdp_profiles gauge\n");
        for (ptype, state, n) in profiles {
            let _ = writeln!(
                out,
                "simkit_smdp_profiles{{profile_type=\"{}\",state=\"{}\"}} {n}",
                escape(ptype),
                escape(state)
            );
        }
        out
    }
}

impl Inner {
    fn clone_data(&self) -> Inner {
        Inner {
            requests: self.requests.clone(),
            functions: self.functions.clone(),
            latency: self.latency.clone(),
            outbox: self.outbox.clone(),
        }
    }
}

/// Label value escaping (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let m = Metrics::default();
        m.observe_request("/healthz", 200, Duration::from_millis(3));
        m.observe_request("/healthz", 200, Duration::from_secs(20));
        m.observe_function("/x", "8.2.1/3.9".into());
        m.observe_outbox(outbox_result::DELIVERED);
        let text = m.render(&[("Test \"A\"".into(), "Available".into(), 5)]);
        assert!(text.contains("simkit_http_requests_total{route=\"/healthz\",status=\"200\"} 2\n"));
        assert!(text.contains(
            "simkit_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "simkit_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"10\"} 1\n"
        ));
        assert!(text.contains(
            "simkit_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("simkit_http_request_duration_seconds_count{route=\"/healthz\"} 2\n"));
        assert!(
            text.contains("simkit_function_results_total{route=\"/x\",result=\"8.2.1/3.9\"} 1\n")
        );
        assert!(text.contains("simkit_outbox_deliveries_total{result=\"delivered\"} 1\n"));
        assert!(text.contains(
            "simkit_smdp_profiles{profile_type=\"Test \\\"A\\\"\",state=\"Available\"} 5\n"
        ));
    }
}
