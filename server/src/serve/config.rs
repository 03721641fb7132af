//! [`Config`]: everything `switchboard serve` is configured with, as plain typed values.
//!
//! The command line (`crate::cli`) parses flags and environment variables and builds a `Config` in one
//! place; the library — [`super::build_state`], the benchmark, `seed`, the tests —
//! takes a `Config` and never sees the parser. [`Config::defaults_on`] gives the documented defaults on
//! a database, for tests and the benchmark.
//!
//! ```
//! use switchboard::serve::Config;
//! let url = "sqlite:data/example.db".parse().unwrap();
//! let config = Config { site_root: "site".into(), ..Config::defaults_on(&url) };
//! assert!(config.no_demo);
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use engine::BreakerConfig;

use crate::auth::AuthConfig;
use crate::cluster::ClusterConfig;
use crate::db::DatabaseUrl;
use crate::services::ServiceSpec;

/// Options of `switchboard serve`, each documented with its flag in `crate::cli`.
#[derive(Clone)]
pub struct Config {
    /// Where the state lives (validated; shown without its password).
    pub database: DatabaseUrl,
    /// Address and port the console and API listen on.
    pub listen: SocketAddr,
    /// No built-in demo traffic.
    pub no_demo: bool,
    /// Demo traffic: workflows started per second.
    pub demo_rate: f64,
    /// Time between SLA checks.
    pub sla_check_interval: Duration,
    /// Folder holding the built browser bundle and public assets.
    pub site_root: PathBuf,
    /// Services reached over HTTP; one named like a simulated service replaces it.
    pub services: Vec<ServiceSpec>,
    /// The breaker settings every service gets.
    pub breaker: BreakerConfig,
    /// Password of the first `admin` (a database without users); `None`: generated and printed once.
    pub admin_password: Option<String>,
    /// Session lifetimes, cookie and origin rules.
    pub auth: AuthConfig,
    /// This node's name among several on one PostgreSQL; `None`: host name and listen port.
    pub node_id: Option<String>,
    /// Cluster: how long a node may be silent before others take its work over.
    pub lease: Duration,
    /// Cluster: how often a node renews its heartbeat.
    pub heartbeat: Duration,
    /// Cluster: how often a node looks for unowned instances and those of gone nodes.
    pub claim_interval: Duration,
}

impl Config {
    /// The documented defaults on the given database, without demo traffic, listening on a free port:
    /// for tests and the benchmark (no environment variables are read).
    pub fn defaults_on(url: &DatabaseUrl) -> Self {
        Self {
            database: url.clone(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            no_demo: true,
            demo_rate: 5.0,
            sla_check_interval: Duration::from_secs(15),
            site_root: PathBuf::from("target/site"),
            services: Vec::new(),
            breaker: BreakerConfig { failure_threshold: 5, open_ms: 30_000, half_open_probes: 1 },
            admin_password: None,
            auth: AuthConfig::default(),
            node_id: None,
            lease: Duration::from_millis(3_000),
            heartbeat: Duration::from_millis(500),
            claim_interval: Duration::from_millis(500),
        }
    }

    /// How this node takes part in a cluster. Made when the runtime starts, not when the configuration
    /// is: without `node_id`, each runtime built from one configuration on port 0 (tests start several
    /// in one process) gets an id of its own.
    ///
    /// # Errors
    /// A heartbeat that is not shorter than half the lease (the node would lose its work while alive).
    pub fn cluster(&self) -> anyhow::Result<ClusterConfig> {
        let (heartbeat_ms, lease_ms) = (self.heartbeat.as_millis(), self.lease.as_millis());
        anyhow::ensure!(
            heartbeat_ms * 2 <= lease_ms,
            "--heartbeat-ms ({heartbeat_ms}) must be at most half of --lease-ms ({lease_ms}): a node renews its \
             lease with its heartbeat"
        );
        let defaults = ClusterConfig::default();
        Ok(ClusterConfig {
            node_id: match &self.node_id {
                Some(id) => id.clone(),
                // Tests and the benchmark listen on port 0: several runtimes of one process need apart ids.
                None if self.listen.port() == 0 => defaults.node_id,
                None => crate::cluster::default_node_id(self.listen),
            },
            address: self.listen.to_string(),
            lease: self.lease,
            heartbeat: self.heartbeat,
            claim_interval: self.claim_interval,
            ..defaults
        })
    }
}

/// Shows everything but the admin password (the database URL shows itself without its password).
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database", &self.database)
            .field("listen", &self.listen)
            .field("no_demo", &self.no_demo)
            .field("demo_rate", &self.demo_rate)
            .field("sla_check_interval", &self.sla_check_interval)
            .field("site_root", &self.site_root)
            .field("services", &self.services)
            .field("breaker", &self.breaker)
            .field("admin_password", &self.admin_password.as_ref().map(|_| "(hidden)"))
            .field("auth", &self.auth)
            .field("node_id", &self.node_id)
            .field("lease", &self.lease)
            .field("heartbeat", &self.heartbeat)
            .field("claim_interval", &self.claim_interval)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_longer_than_half_the_lease_is_refused_with_the_flags_named() {
        let url = "sqlite:unused.db".parse().unwrap();
        let config = Config { heartbeat: Duration::from_millis(2_000), ..Config::defaults_on(&url) };
        let error = config.cluster().unwrap_err().to_string();
        assert!(error.starts_with("--heartbeat-ms (2000) must be at most half of --lease-ms (3000)"), "{error}");
    }

    #[test]
    fn debug_hides_the_admin_password() {
        let url = "sqlite:unused.db".parse().unwrap();
        let config = Config { admin_password: Some("t0psecret".into()), ..Config::defaults_on(&url) };
        assert!(!format!("{config:?}").contains("t0psecret"));
    }
}
