//! [`DurationSketch`]: a mergeable, sparse, log-linear histogram of durations in milliseconds.
//!
//! The layout is HdrHistogram's: values below 128 ms get a bucket each (exact); above that, every power
//! of two `[2^k, 2^(k+1))` is split into 128 equal sub-buckets of width `2^(k-7)`. A bucket's lower bound
//! is therefore at least 128 times its width, and its representative value (the middle of the bucket,
//! clamped to the exact minimum and maximum seen) lies within **1/256 (≈ 0.39 %) relative error** of any
//! value in it. The buckets cover the whole `u64` range (7,424 of them at most; up to 30 days needs at
//! most 3,328), and only non-empty buckets are stored.
//!
//! Because a sketch is just a count per bucket plus exact count, sum, minimum and maximum, merging is
//! addition and is exact: the merge of the sketches of two sample sets is the sketch of both sets
//! together, bucket by bucket. That is what lets monitoring keep one sketch per time bucket and answer
//! any period by merging.
//!
//! # Quantiles
//!
//! [`DurationSketch::quantile`] uses nearest rank: for `q` in `(0, 1)` the rank is `ceil(q · count)` and
//! the answer is the representative of the bucket holding the sample of that rank. Since the bucket is
//! the one the exact nearest-rank sample fell into, the answer is within 1/256 of it. `q = 0` and `q = 1`
//! (and the ranks of the smallest and largest sample) answer the exact minimum and maximum.
//!
//! # Storage encoding
//!
//! [`DurationSketch::to_text`] gives a short, stable text for a TEXT or BYTEA column:
//!
//! ```text
//! v1;<count>;<sum>;<min>;<max>;<index>:<count>,<index>:<count>,…
//! ```
//!
//! in decimal, buckets in increasing index order; the empty sketch is `v1;0;0;;;`. The bucket layout is
//! part of version 1: a different layout must get a new version. [`DurationSketch::from_text`] checks
//! everything (shape, numbers, bucket order, totals) and returns a typed [`Error`]; it never panics.
//!
//! ```
//! use switchboard::monitoring::sketch::DurationSketch;
//!
//! let mut sketch = DurationSketch::new();
//! for ms in [12, 15, 15, 900, 1_250] {
//!     sketch.record(ms);
//! }
//! let text = sketch.to_text();
//! assert_eq!(text, "v1;5;2192;12;1250;12:1,15:2,481:1,540:1");
//! assert_eq!(DurationSketch::from_text(&text)?, sketch);
//! assert_eq!(sketch.quantile(0.5), Some(15));
//! # Ok::<(), switchboard::monitoring::sketch::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// log2 of the number of linear sub-buckets per power of two. Part of the `v1` encoding.
const SUB_BUCKET_BITS: u32 = 7;
/// Linear sub-buckets per power of two; also the first value that is not recorded exactly.
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// The bucket index of `u64::MAX`, the largest index there is.
const MAX_INDEX: u32 = index_of(u64::MAX);
/// The version tag that opens the text encoding.
const VERSION: &str = "v1";

/// Why [`DurationSketch::from_text`] rejected its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text does not start with a version this code reads.
    #[error("unsupported sketch encoding version {found:?} (expected \"v1\")")]
    Version { found: String },
    /// A `;`-separated field is missing.
    #[error("sketch text is missing the {field} field")]
    MissingField { field: &'static str },
    /// There is more after the buckets field.
    #[error("sketch text has fields after the buckets")]
    TrailingFields,
    /// A field or bucket entry is not a plain decimal number that fits.
    #[error("sketch {field} is not a valid number: {value:?}")]
    Number { field: &'static str, value: String },
    /// A bucket entry is not `<index>:<count>`.
    #[error("sketch bucket entry {entry:?} is not <index>:<count>")]
    BucketEntry { entry: String },
    /// A bucket index is past the last bucket.
    #[error("sketch bucket index {index} is out of range (at most {MAX_INDEX})")]
    IndexOutOfRange { index: u32 },
    /// Bucket indexes are not strictly increasing.
    #[error("sketch bucket index {index} is not greater than the one before it")]
    IndexOrder { index: u32 },
    /// A bucket entry has a count of zero (empty buckets are not stored).
    #[error("sketch bucket {index} has a count of zero")]
    EmptyBucket { index: u32 },
    /// The fields parse but contradict each other.
    #[error("sketch is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// The result of decoding a sketch.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A histogram of durations in milliseconds with bounded relative error; see the [module docs](self).
///
/// Counts saturate at `u64::MAX` rather than overflow; the sum is a `u128` and is always exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationSketch {
    /// Non-empty buckets only: bucket index → number of samples in it.
    buckets: BTreeMap<u32, u64>,
    count: u64,
    sum_ms: u128,
    /// Exact minimum and maximum; `None` exactly when `count == 0`.
    min_ms: Option<u64>,
    max_ms: Option<u64>,
}

/// One non-empty bucket of a sketch, as [`DurationSketch::buckets`] yields it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// The smallest duration that falls in this bucket, in ms.
    pub low_ms: u64,
    /// The largest duration that falls in this bucket, in ms (inclusive).
    pub high_ms: u64,
    /// How many samples fell in it.
    pub count: u64,
}

impl DurationSketch {
    /// The relative error bound of [`quantile`](Self::quantile) against the exact nearest-rank value:
    /// `|answer - exact| <= exact * RELATIVE_ERROR`.
    pub const RELATIVE_ERROR: f64 = 1.0 / 256.0;

    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one duration.
    pub fn record(&mut self, ms: u64) {
        self.record_n(ms, 1);
    }

    /// Records the same duration `n` times (nothing when `n` is 0).
    pub fn record_n(&mut self, ms: u64, n: u64) {
        if n == 0 {
            return;
        }
        let slot = self.buckets.entry(index_of(ms)).or_insert(0);
        *slot = slot.saturating_add(n);
        self.count = self.count.saturating_add(n);
        self.sum_ms += u128::from(ms) * u128::from(n);
        self.min_ms = Some(self.min_ms.map_or(ms, |m| m.min(ms)));
        self.max_ms = Some(self.max_ms.map_or(ms, |m| m.max(ms)));
    }

    /// Adds every sample of `other` to this sketch. Exact: the result equals the sketch of both sample
    /// sets recorded into one.
    pub fn merge(&mut self, other: &DurationSketch) {
        for (&index, &n) in &other.buckets {
            let slot = self.buckets.entry(index).or_insert(0);
            *slot = slot.saturating_add(n);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_ms += other.sum_ms;
        self.min_ms = combine(self.min_ms, other.min_ms, u64::min);
        self.max_ms = combine(self.max_ms, other.max_ms, u64::max);
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The number of samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exact sum of the samples, in ms.
    pub fn sum_ms(&self) -> u128 {
        self.sum_ms
    }

    /// The exact smallest sample, in ms; `None` when empty.
    pub fn min(&self) -> Option<u64> {
        self.min_ms
    }

    /// The exact largest sample, in ms; `None` when empty.
    pub fn max(&self) -> Option<u64> {
        self.max_ms
    }

    /// The mean of the samples, in ms (from the exact sum and count); `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        // `as f64` rounds to the nearest double, which is all a mean needs.
        (self.count > 0).then(|| self.sum_ms as f64 / self.count as f64)
    }

    /// The nearest-rank `q`-quantile in ms, within [`RELATIVE_ERROR`](Self::RELATIVE_ERROR) of the exact
    /// nearest-rank sample; exact for `q <= 0` (the minimum) and `q >= 1` (the maximum). `None` when the
    /// sketch is empty or `q` is NaN.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let (min, max) = (self.min_ms?, self.max_ms?);
        if q.is_nan() {
            return None;
        }
        // Rank in 1..=count; f64 is exact up to 2^53 samples, far beyond any rollup.
        let rank = (q * self.count as f64).ceil().clamp(1.0, self.count as f64) as u64;
        if rank <= 1 {
            return Some(min);
        }
        if rank >= self.count {
            return Some(max);
        }
        let mut seen = 0u64;
        for (&index, &n) in &self.buckets {
            seen = seen.saturating_add(n);
            if seen >= rank {
                return Some(representative(index).clamp(min, max));
            }
        }
        // Unreachable while bucket counts add up to `count`, which every constructor guarantees.
        Some(max)
    }

    /// The share of samples at most `ms` (0 for an empty sketch). Exact for values below 128 ms and for
    /// the minimum and maximum; otherwise a sample counts as at most `ms` when its bucket's
    /// representative is, which is off by at most one bucket width (1/256 relative) at the edge.
    pub fn fraction_at_most(&self, ms: u64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let (min, max) = (self.min_ms.unwrap_or(0), self.max_ms.unwrap_or(0));
        if ms >= max {
            return 1.0;
        }
        if ms < min {
            return 0.0;
        }
        let at_most: u64 = self
            .buckets
            .iter()
            .filter(|(&index, _)| representative(index).clamp(min, max) <= ms)
            .map(|(_, &n)| n)
            .sum();
        at_most as f64 / self.count as f64
    }

    /// The non-empty buckets in increasing order, e.g. to draw a histogram.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.buckets.iter().map(|(&index, &count)| {
            let (low_ms, high_ms) = bounds(index);
            Bucket { low_ms, high_ms, count }
        })
    }

    /// The storage encoding described in the [module docs](self#storage-encoding).
    pub fn to_text(&self) -> String {
        let mut text = format!("{VERSION};{};{};", self.count, self.sum_ms);
        if let (Some(min), Some(max)) = (self.min_ms, self.max_ms) {
            let _ = write!(text, "{min};{max};");
        } else {
            text.push_str(";;");
        }
        for (i, (index, n)) in self.buckets.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(text, "{sep}{index}:{n}");
        }
        text
    }

    /// Decodes [`to_text`](Self::to_text)'s output; `from_text(&s.to_text()) == Ok(s)` for every sketch.
    ///
    /// # Errors
    ///
    /// An [`Error`] naming the first thing wrong: an unknown version, a missing or extra field, a field
    /// that is not a decimal number, a malformed, out-of-range, unordered or empty bucket, or totals
    /// that contradict the buckets (count, minimum and maximum must match them; the sum must lie between
    /// `count · min` and `count · max`).
    pub fn from_text(text: &str) -> Result<Self> {
        let mut fields = text.split(';');
        let version = fields.next().unwrap_or_default();
        if version != VERSION {
            return Err(Error::Version { found: version.chars().take(16).collect() });
        }
        let mut field = |name: &'static str| fields.next().ok_or(Error::MissingField { field: name });
        let count: u64 = number("count", field("count")?)?;
        let sum_ms: u128 = number("sum", field("sum")?)?;
        let min_text = field("min")?;
        let max_text = field("max")?;
        let buckets_text = field("buckets")?;
        if fields.next().is_some() {
            return Err(Error::TrailingFields);
        }

        let mut buckets = BTreeMap::new();
        let mut total = 0u64;
        let mut previous: Option<u32> = None;
        let entries = (!buckets_text.is_empty()).then(|| buckets_text.split(','));
        for entry in entries.into_iter().flatten() {
            let (index, n) = entry.split_once(':').ok_or_else(|| Error::BucketEntry { entry: entry.into() })?;
            let index: u32 = number("bucket index", index)?;
            let n: u64 = number("bucket count", n)?;
            if index > MAX_INDEX {
                return Err(Error::IndexOutOfRange { index });
            }
            if previous.is_some_and(|p| index <= p) {
                return Err(Error::IndexOrder { index });
            }
            if n == 0 {
                return Err(Error::EmptyBucket { index });
            }
            total = total.checked_add(n).ok_or(Error::Inconsistent("bucket counts overflow"))?;
            previous = Some(index);
            buckets.insert(index, n);
        }
        if total != count {
            return Err(Error::Inconsistent("bucket counts do not add up to count"));
        }

        let (min_ms, max_ms) = if count == 0 {
            if !min_text.is_empty() || !max_text.is_empty() || sum_ms != 0 {
                return Err(Error::Inconsistent("an empty sketch has a sum, min or max"));
            }
            (None, None)
        } else {
            let min: u64 = number("min", min_text)?;
            let max: u64 = number("max", max_text)?;
            // `count > 0`, so there is a first and a last bucket.
            let first = buckets.keys().next().copied().unwrap_or_default();
            let last = buckets.keys().next_back().copied().unwrap_or_default();
            if index_of(min) != first || index_of(max) != last || min > max {
                return Err(Error::Inconsistent("min or max does not match the buckets"));
            }
            let n = u128::from(count);
            if sum_ms < n * u128::from(min) || sum_ms > n * u128::from(max) {
                return Err(Error::Inconsistent("sum is outside count × min ..= count × max"));
            }
            (Some(min), Some(max))
        };
        Ok(Self { buckets, count, sum_ms, min_ms, max_ms })
    }
}

/// Combines two optional extremes, keeping whichever exists.
fn combine(a: Option<u64>, b: Option<u64>, pick: fn(u64, u64) -> u64) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// Parses a plain decimal number: digits only (no sign, no spaces), and it must fit `T`.
fn number<T: std::str::FromStr>(field: &'static str, text: &str) -> Result<T> {
    let invalid = || Error::Number { field, value: text.chars().take(32).collect() };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse().map_err(|_| invalid())
}

/// The bucket a duration falls in. Values below [`SUB_BUCKETS`] are their own index; above, the index is
/// the top `SUB_BUCKET_BITS + 1` bits of the value (128..256) offset by 128 per doubling.
const fn index_of(ms: u64) -> u32 {
    if ms < SUB_BUCKETS {
        return ms as u32;
    }
    let shift = (63 - ms.leading_zeros()) - SUB_BUCKET_BITS;
    (ms >> shift) as u32 + (shift << SUB_BUCKET_BITS)
}

/// The inclusive range of durations in bucket `index` (which must be at most [`MAX_INDEX`]).
fn bounds(index: u32) -> (u64, u64) {
    let shift = (index >> SUB_BUCKET_BITS).saturating_sub(1);
    let mantissa = u64::from(index - (shift << SUB_BUCKET_BITS));
    let low = mantissa << shift;
    (low, low + ((1u64 << shift) - 1))
}

/// The value a bucket stands for: its middle, so the error is at most half its width.
fn representative(index: u32) -> u64 {
    let (low, high) = bounds(index);
    low + (high - low).div_ceil(2)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sketch_of(samples: &[u64]) -> DurationSketch {
        let mut sketch = DurationSketch::new();
        for &ms in samples {
            sketch.record(ms);
        }
        sketch
    }

    /// The exact nearest-rank quantile of raw samples, as the sketch defines it.
    fn exact_quantile(samples: &[u64], q: f64) -> u64 {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = (q * sorted.len() as f64).ceil().clamp(1.0, sorted.len() as f64) as usize;
        sorted[rank - 1]
    }

    fn within_bound(answer: u64, exact: u64) -> bool {
        // |answer - exact| <= exact / 256, in integers.
        u128::from(answer.abs_diff(exact)) * 256 <= u128::from(exact)
    }

    /// Durations from sub-millisecond to past 30 days, plus the extremes of `u64`.
    fn duration() -> impl Strategy<Value = u64> {
        prop_oneof![
            3 => 0u64..300,
            3 => 0u64..60_000,
            3 => 0u64..40 * 24 * 3_600_000,
            1 => any::<u64>(),
            1 => Just(u64::MAX),
        ]
    }

    #[test]
    fn fraction_at_most_counts_samples_up_to_a_threshold() {
        let mut sketch = DurationSketch::new();
        assert_eq!(sketch.fraction_at_most(10), 0.0);
        for ms in [5, 10, 10, 20, 2_000] {
            sketch.record(ms);
        }
        assert_eq!(sketch.fraction_at_most(4), 0.0);
        assert_eq!(sketch.fraction_at_most(10), 0.6);
        assert_eq!(sketch.fraction_at_most(19), 0.6);
        assert_eq!(sketch.fraction_at_most(20), 0.8);
        assert_eq!(sketch.fraction_at_most(1_999), 0.8);
        assert_eq!(sketch.fraction_at_most(2_000), 1.0);
    }

    #[test]
    fn indexes_are_contiguous_and_bounds_invert_them() {
        // Every bucket's range maps back to that bucket and the next bucket starts right after it.
        let mut expected_low = 0u64;
        for index in 0..=MAX_INDEX {
            let (low, high) = bounds(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert!(low <= high);
            assert_eq!(index_of(low), index);
            assert_eq!(index_of(high), index);
            let rep = representative(index);
            assert!(low <= rep && rep <= high);
            assert!(within_bound(rep, low) && within_bound(rep, high), "bucket {index}: {low}..={high}");
            expected_low = high.wrapping_add(1);
        }
        assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        assert_eq!(MAX_INDEX, 7_423);
        assert!(index_of(30 * 24 * 3_600_000) < 3_328);
    }

    #[test]
    fn small_values_are_exact() {
        for ms in 0..SUB_BUCKETS * 2 {
            assert_eq!(bounds(index_of(ms)), (ms, ms));
        }
    }

    #[test]
    fn empty_sketch_answers_none() {
        let sketch = DurationSketch::new();
        assert!(sketch.is_empty());
        assert_eq!(sketch.count(), 0);
        assert_eq!(sketch.sum_ms(), 0);
        assert_eq!((sketch.min(), sketch.max(), sketch.mean()), (None, None, None));
        assert_eq!(sketch.quantile(0.5), None);
        assert_eq!(sketch.to_text(), "v1;0;0;;;");
        assert_eq!(DurationSketch::from_text("v1;0;0;;;"), Ok(sketch));
    }

    #[test]
    fn hand_computed_fixture() {
        // 1..=100 ms: all exact buckets, so quantiles are exact nearest-rank values.
        let samples: Vec<u64> = (1..=100).collect();
        let sketch = sketch_of(&samples);
        assert_eq!(sketch.count(), 100);
        assert_eq!(sketch.sum_ms(), 5_050);
        assert_eq!(sketch.mean(), Some(50.5));
        assert_eq!(sketch.quantile(0.5), Some(50));
        assert_eq!(sketch.quantile(0.95), Some(95));
        assert_eq!(sketch.quantile(0.99), Some(99));
        assert_eq!(sketch.quantile(0.991), Some(100));
        assert_eq!(sketch.quantile(0.0), Some(1));
        assert_eq!(sketch.quantile(-3.0), Some(1));
        assert_eq!(sketch.quantile(2.0), Some(100));
        assert_eq!(sketch.quantile(f64::NAN), None);
    }

    #[test]
    fn large_values_use_the_bucket_middle_clamped_to_min_and_max() {
        // 1000 ms lies in [512, 1024), split into buckets of width 4: [1000, 1003].
        let mut sketch = DurationSketch::new();
        sketch.record_n(1_000, 3);
        sketch.record(5_000);
        sketch.record_n(7, 0);
        assert_eq!(sketch.count(), 4);
        assert_eq!(bounds(index_of(1_000)), (1_000, 1_003));
        // Rank 2 of 4 answers the bucket middle, 1002: within 1/256 of the exact 1000.
        assert_eq!(sketch.quantile(0.5), Some(1_002));
        // Rank 1 and rank 4 are the exact min and max.
        assert_eq!(sketch.quantile(0.25), Some(1_000));
        assert_eq!(sketch.quantile(0.9), Some(5_000));
        // Clamping: all samples equal to the bucket's top answer that value, not the middle.
        let mut top = DurationSketch::new();
        top.record_n(1_003, 5);
        assert_eq!(top.quantile(0.5), Some(1_003));
        // A single sample answers exactly at every q.
        let one = sketch_of(&[123_456]);
        assert_eq!(one.quantile(0.5), Some(123_456));
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut sketch = DurationSketch::new();
        sketch.record_n(u64::MAX, 3);
        sketch.record(0);
        assert_eq!(sketch.sum_ms(), 3 * u128::from(u64::MAX));
        assert_eq!((sketch.min(), sketch.max()), (Some(0), Some(u64::MAX)));
        assert_eq!(DurationSketch::from_text(&sketch.to_text()), Ok(sketch));
    }

    #[test]
    fn from_text_rejects_garbage_with_a_named_error() {
        let cases: &[(&str, Error)] = &[
            ("", Error::Version { found: String::new() }),
            ("v2;0;0;;;", Error::Version { found: "v2".into() }),
            ("v1;1;5", Error::MissingField { field: "min" }),
            ("v1;0;0;;;;", Error::TrailingFields),
            ("v1;x;0;;;", Error::Number { field: "count", value: "x".into() }),
            ("v1;+1;5;5;5;5:1", Error::Number { field: "count", value: "+1".into() }),
            ("v1;1;5;5;5;5", Error::BucketEntry { entry: "5".into() }),
            ("v1;1;5;5;5;5:-1", Error::Number { field: "bucket count", value: "-1".into() }),
            ("v1;1;5;5;5;99999:1", Error::IndexOutOfRange { index: 99_999 }),
            ("v1;2;10;5;5;5:1,5:1", Error::IndexOrder { index: 5 }),
            ("v1;1;5;5;5;5:1,6:0", Error::EmptyBucket { index: 6 }),
            ("v1;2;5;5;5;5:1", Error::Inconsistent("bucket counts do not add up to count")),
            ("v1;1;5;4;5;5:1", Error::Inconsistent("min or max does not match the buckets")),
            ("v1;1;6;5;5;5:1", Error::Inconsistent("sum is outside count × min ..= count × max")),
            ("v1;0;0;1;;", Error::Inconsistent("an empty sketch has a sum, min or max")),
            ("v1;1;5;;5;5:1", Error::Number { field: "min", value: String::new() }),
        ];
        for (text, expected) in cases {
            assert_eq!(DurationSketch::from_text(text).as_ref(), Err(expected), "input {text:?}");
        }
        // The message names the problem.
        let message = DurationSketch::from_text("v1;x;0;;;").unwrap_err().to_string();
        assert!(message.contains("count") && message.contains("\"x\""), "{message}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn merge_equals_sketch_of_concatenation(
            a in prop::collection::vec(duration(), 0..200),
            b in prop::collection::vec(duration(), 0..200),
        ) {
            let mut merged = sketch_of(&a);
            merged.merge(&sketch_of(&b));
            let both: Vec<u64> = a.iter().chain(&b).copied().collect();
            let whole = sketch_of(&both);
            prop_assert_eq!(&merged.buckets, &whole.buckets);
            prop_assert_eq!(merged, whole);
        }

        #[test]
        fn totals_are_exact_and_quantiles_within_bound(
            samples in prop::collection::vec(duration(), 1..300),
            qs in prop::collection::vec(0.0f64..=1.0, 1..8),
        ) {
            let sketch = sketch_of(&samples);
            prop_assert_eq!(sketch.count(), samples.len() as u64);
            prop_assert_eq!(sketch.sum_ms(), samples.iter().map(|&ms| u128::from(ms)).sum::<u128>());
            prop_assert_eq!(sketch.min(), samples.iter().copied().min());
            prop_assert_eq!(sketch.max(), samples.iter().copied().max());
            prop_assert_eq!(sketch.buckets().map(|b| b.count).sum::<u64>(), sketch.count());
            prop_assert_eq!(sketch.quantile(0.0), sketch.min());
            prop_assert_eq!(sketch.quantile(1.0), sketch.max());
            for q in qs.into_iter().chain([0.5, 0.95, 0.99]) {
                let answer = sketch.quantile(q).unwrap();
                let exact = exact_quantile(&samples, q);
                prop_assert!(within_bound(answer, exact), "q={} answer={} exact={}", q, answer, exact);
            }
        }

        #[test]
        fn text_round_trips_exactly(samples in prop::collection::vec(duration(), 0..200)) {
            let sketch = sketch_of(&samples);
            let text = sketch.to_text();
            prop_assert_eq!(DurationSketch::from_text(&text), Ok(sketch));
        }

        #[test]
        fn from_text_never_panics(text in "[v0-9;:,x-]{0,40}") {
            let _ = DurationSketch::from_text(&text);
        }

        #[test]
        fn from_text_rejects_corrupted_text(
            samples in prop::collection::vec(duration(), 1..50),
            cut in any::<prop::sample::Index>(),
        ) {
            // A valid encoding cut short anywhere is rejected, never read as some other sketch: the
            // totals up front must agree with the buckets behind them.
            let text = sketch_of(&samples).to_text();
            let truncated = &text[..cut.index(text.len())];
            prop_assert!(DurationSketch::from_text(truncated).is_err(), "accepted {:?}", truncated);
        }
    }
}
