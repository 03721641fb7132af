//! Latency samples and the one-line report.

use std::time::Duration;

use super::Mode;

/// What the clients measured.
#[derive(Default)]
pub struct Outcomes {
    start_ms: Vec<f64>,
    end_to_end_ms: Vec<f64>,
    pub completed: u64,
    pub failed: u64,
    pub compensated: u64,
    pub other: u64,
}

impl Outcomes {
    pub fn record(&mut self, start: Duration, end_to_end: Duration, status: &str) {
        self.start_ms.push(start.as_secs_f64() * 1_000.0);
        self.end_to_end_ms.push(end_to_end.as_secs_f64() * 1_000.0);
        match status {
            "completed" => self.completed += 1,
            "failed" => self.failed += 1,
            "compensated" => self.compensated += 1,
            _ => self.other += 1,
        }
    }

    pub fn merge(&mut self, other: Outcomes) {
        self.start_ms.extend(other.start_ms);
        self.end_to_end_ms.extend(other.end_to_end_ms);
        self.completed += other.completed;
        self.failed += other.failed;
        self.compensated += other.compensated;
        self.other += other.other;
    }
}

/// One finished run.
pub struct Run {
    pub workflows: u64,
    pub concurrency: u64,
    pub wall: Duration,
    /// Service calls made (steps and compensations).
    pub calls: u64,
    pub outcomes: Outcomes,
}

impl Run {
    pub fn line(mut self, backend: &str, mode: Mode) -> String {
        let mode = match mode {
            Mode::InProcess | Mode::Both => "inprocess",
            Mode::Http => "http",
        };
        let wall = self.wall.as_secs_f64();
        let failed = self.outcomes.failed + self.outcomes.other;
        format!(
            "PEER switchboard-{backend}-{mode} workflows={} concurrency={} wall_s={wall:.2} wf_per_s={:.0} steps_per_s={:.0} \
             start_p50_ms={:.2} start_p99_ms={:.2} e2e_p50_ms={:.2} e2e_p99_ms={:.2} failed={failed} compensated={}",
            self.workflows,
            self.concurrency,
            self.workflows as f64 / wall,
            self.calls as f64 / wall,
            percentile(&mut self.outcomes.start_ms, 0.50),
            percentile(&mut self.outcomes.start_ms, 0.99),
            percentile(&mut self.outcomes.end_to_end_ms, 0.50),
            percentile(&mut self.outcomes.end_to_end_ms, 0.99),
            self.outcomes.compensated,
        )
    }
}

/// The nearest-rank percentile (`q` in 0..=1) of the samples.
pub fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// The process's peak resident memory (VmHWM), in MiB; Linux only.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut samples, 0.50), 50.0);
        assert_eq!(percentile(&mut samples, 0.99), 99.0);
        assert_eq!(percentile(&mut samples, 1.0), 100.0);
        let mut one = vec![7.0];
        assert_eq!(percentile(&mut one, 0.99), 7.0);
        assert!(percentile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn the_line_has_the_agreed_shape() {
        let mut outcomes = Outcomes::default();
        outcomes.record(Duration::from_millis(2), Duration::from_millis(9), "completed");
        outcomes.record(Duration::from_millis(3), Duration::from_millis(12), "compensated");
        let run = Run { workflows: 2, concurrency: 1, wall: Duration::from_secs(1), calls: 10, outcomes };
        let line = run.line("sqlite", Mode::InProcess);
        assert!(
            line.starts_with(
                "PEER switchboard-sqlite-inprocess workflows=2 concurrency=1 wall_s=1.00 wf_per_s=2 steps_per_s=10 "
            ),
            "{line}"
        );
        assert!(line.ends_with("failed=0 compensated=1"), "{line}");
    }
}
