//! The sign-in throttle: failed sign-ins are counted per username *and* client address, and every
//! failure past the free ones makes that pair wait twice as long before its next try.
//!
//! Counting per username alone let anyone lock a person out (five wrong passwords for `admin`, from
//! anywhere, kept `admin` out for 15 minutes). Per pair, someone else's guesses slow down only the
//! address they come from; the person signing in from elsewhere is not affected.
//!
//! With the defaults ([`ThrottleRules::default`]): five failures within 15 minutes cost nothing; after
//! the fifth the pair waits 2 s, after the sixth 4 s, then 8 s, 16 s, … up to 15 minutes. A failure
//! counts for 15 minutes. A try refused by the throttle checks no password and writes nothing (it is
//! not a failure, and it cannot tell a right password from a wrong one). The failures are rows of
//! `sign_in_failures` (besides their audit entries), so every process of a cluster counts the same.
//!
//! The client address ([`client_address`]) is the peer of the connection (axum's `ConnectInfo`, which
//! `switchboard serve` provides), or — only with `--trust-forwarded-for`, for a server behind a proxy
//! you run — the last address of `X-Forwarded-For`, the one that proxy appended (earlier entries are
//! whatever the client claimed). An IPv6 client is counted by its /64, which one host usually has whole.
//! With neither (requests the tests send in process), the address is `unknown`: one pair per username.
//!
//! ```
//! use std::time::Duration;
//! use switchboard::auth::throttle::ThrottleRules;
//! use switchboard::store::access::SignInFailures;
//!
//! let rules = ThrottleRules::default();
//! assert_eq!(rules.delay_after(4), Duration::ZERO);
//! assert_eq!(rules.delay_after(5), Duration::from_secs(2));
//! assert_eq!(rules.delay_after(6), Duration::from_secs(4));
//! let five = SignInFailures { count: 5, last_at: Some(10_000) };
//! assert_eq!(rules.wait(five, 11_000), Some(Duration::from_secs(1)));
//! assert_eq!(rules.wait(five, 12_000), None);
//! ```

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

use crate::store::access::SignInFailures;

/// How failed sign-ins slow a (username, client address) pair down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleRules {
    /// Failures within [`ThrottleRules::window`] that cost nothing.
    pub free_failures: i64,
    /// The wait after the first failure past the free ones; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// How long a failure counts.
    pub window: Duration,
}

impl Default for ThrottleRules {
    fn default() -> Self {
        ThrottleRules {
            free_failures: 5,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        }
    }
}

impl ThrottleRules {
    /// The wait a pair owes after `failures` failures within the window: none up to the free ones,
    /// then [`ThrottleRules::first_delay`], doubling with each failure, at most
    /// [`ThrottleRules::max_delay`].
    pub fn delay_after(&self, failures: i64) -> Duration {
        let past_free = failures.saturating_sub(self.free_failures - 1);
        if past_free <= 0 {
            return Duration::ZERO;
        }
        let past_free = u32::try_from(past_free).unwrap_or(u32::MAX);
        let factor = 1u32.checked_shl(past_free - 1).unwrap_or(u32::MAX);
        self.first_delay.checked_mul(factor).map_or(self.max_delay, |delay| delay.min(self.max_delay))
    }

    /// How long the pair must still wait at `now` (epoch ms) before its next try; `None` when it may try.
    pub fn wait(&self, failures: SignInFailures, now: i64) -> Option<Duration> {
        let last = failures.last_at?;
        let until = last.saturating_add(super::millis(self.delay_after(failures.count)));
        (now < until).then(|| Duration::from_millis(u64::try_from(until - now).unwrap_or(0)))
    }
}

/// The client's address: the last `X-Forwarded-For` entry when `trust_forwarded_for` (and it reads as
/// an address), else the connection's peer (`ConnectInfo`); `None` when neither is known.
pub fn client_address(headers: &HeaderMap, extensions: &Extensions, trust_forwarded_for: bool) -> Option<IpAddr> {
    let forwarded = trust_forwarded_for.then(|| last_forwarded_for(headers)).flatten();
    let peer = || extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
    forwarded.or_else(peer).map(canonical)
}

/// What the throttle counts a client as: its IPv4 address, its IPv6 /64 (`2001:db8:1:2::/64`), or
/// `unknown`.
pub fn throttle_key(address: Option<IpAddr>) -> String {
    match address {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(bits))
        }
        None => "unknown".to_string(),
    }
}

/// The last entry of the last `X-Forwarded-For` header, as an address (`198.51.100.7`,
/// `198.51.100.7:5123`, `2001:db8::1` or `[2001:db8::1]:5123`).
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    last.parse::<IpAddr>().ok().or_else(|| last.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:203.0.113.9`) is that IPv4 client.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// A wait in words for messages: `2 seconds`, `1 second`, `4 minutes`.
pub fn in_words(wait: Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    match seconds {
        0 | 1 => "1 second".to_string(),
        2..=119 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn delays_grow_from_the_first_failure_past_the_free_ones() {
        let rules = ThrottleRules::default();
        let delays: Vec<u64> = (0..=16).map(|n| rules.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
        assert_eq!(rules.delay_after(i64::MAX), rules.max_delay);
        assert_eq!(rules.wait(SignInFailures::default(), 0), None);
    }

    #[test]
    fn the_forwarded_address_is_used_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("10.9.9.9, 198.51.100.7"));
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        let peer = client_address(&headers, &extensions, false);
        assert_eq!(peer, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(client_address(&headers, &extensions, true), Some(IpAddr::from([198, 51, 100, 7])));
        headers.insert("x-forwarded-for", HeaderValue::from_static("[2001:db8::1]:443"));
        assert_eq!(client_address(&headers, &extensions, true), "2001:db8::1".parse().ok());
        headers.insert("x-forwarded-for", HeaderValue::from_static("not an address"));
        assert_eq!(client_address(&headers, &extensions, true), peer, "unreadable: the peer");
        assert_eq!(client_address(&headers, &Extensions::new(), false), None);
    }

    #[test]
    fn clients_are_keyed_by_address_or_ipv6_prefix() {
        assert_eq!(throttle_key("203.0.113.9".parse().ok()), "203.0.113.9");
        assert_eq!(throttle_key("2001:db8:1:2:aaaa::1".parse().ok()), "2001:db8:1:2::/64");
        assert_eq!(throttle_key(Some(canonical("::ffff:203.0.113.9".parse().unwrap()))), "203.0.113.9");
        assert_eq!(throttle_key(None), "unknown");
    }

    #[test]
    fn waits_read_as_words() {
        assert_eq!(in_words(Duration::from_millis(1500)), "2 seconds");
        assert_eq!(in_words(Duration::from_millis(300)), "1 second");
        assert_eq!(in_words(Duration::from_secs(900)), "15 minutes");
    }
}
