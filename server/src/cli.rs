//! The command line. Every flag can also be set through the environment variable named in its help, so
//! the same binary is configured the same way by hand, by systemd or by a container.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{builder::BoolishValueParser, Args, Parser, Subcommand};

use crate::db::DatabaseUrl;

/// The default database: an embedded SQLite file, created with its folder on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:data/switchboard.db";

/// Switchboard: durable workflows and an operations console for a pay-per-call marketplace.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: durable workflows and an operations console for a pay-per-call marketplace.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, which runs when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Log filter, in `tracing` EnvFilter syntax (e.g. `info`, `switchboard=debug,sqlx=warn`).
    #[arg(long, env = "SWITCHBOARD_LOG", default_value = "info,sqlx=warn", global = true)]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console and the engine (the default).
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Measure throughput and latency of the call-processing saga (prints `PEER …` lines).
    Bench(crate::bench::BenchArgs),
    /// Fill the database with realistic finished history (a progress bar on stderr).
    Seed(crate::seed::SeedArgs),
}

/// Where the state lives.
#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL; the scheme picks the backend: `sqlite:PATH` (embedded, created if missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    // Kept as text and validated by `url()`: clap would echo a rejected value, password and all.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

impl DatabaseArgs {
    pub fn new(url: &DatabaseUrl) -> Self {
        Self { database_url: url.expose_secret().to_string() }
    }

    /// The validated URL.
    ///
    /// # Errors
    /// When the scheme is not `sqlite:` or `postgres:`, or the URL is malformed; the message shows the
    /// URL without its password.
    pub fn url(&self) -> Result<DatabaseUrl, crate::db::Error> {
        self.database_url.parse()
    }
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.url() {
            Ok(url) => f.debug_struct("DatabaseArgs").field("database_url", &url).finish(),
            Err(_) => f.debug_struct("DatabaseArgs").field("database_url", &"(invalid, hidden)").finish(),
        }
    }
}

/// Options of `switchboard serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address and port the console and API listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Do not start the built-in demo traffic generator.
    #[arg(long, env = "SWITCHBOARD_NO_DEMO", value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub no_demo: bool,

    /// Demo traffic: workflows started per second (calls, onboardings, disputes, payouts, quality
    /// checks), after a seed of buyers and sellers.
    #[arg(long, env = "SWITCHBOARD_DEMO_RATE", default_value_t = 5.0, value_parser = demo_rate)]
    pub demo_rate: f64,

    /// Seconds between SLA checks (each target against its window; breaches are recorded and announced).
    #[arg(long, env = "SWITCHBOARD_SLA_CHECK_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sla_check_secs: u64,

    /// Folder holding the built browser bundle (`pkg/switchboard.{js,wasm,css}`) and public assets.
    #[arg(long, env = "SWITCHBOARD_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// A service reached over HTTP, as `NAME:ACTION+ACTION=URL` (repeat the flag, or separate with
    /// commas in the variable). Tasks of service NAME then POST to `URL/<action>`, for the declared
    /// actions only: definitions using another action are refused. A NAME of a simulated marketplace
    /// service (identity, credit, accounts, campaigns, routing, telephony, quality, billing, ledger,
    /// payments, compliance, contracts, notifications, disputes) replaces the simulation, so the
    /// workflows call the real service instead; its actions may then be left out (`ledger=URL` keeps
    /// the simulated ledger's actions).
    #[arg(long = "service", env = "SWITCHBOARD_SERVICES", value_delimiter = ',')]
    pub services: Vec<ServiceSpec>,

    /// Circuit breakers: consecutive failures (retryable errors and timeouts) that open a service's
    /// breaker.
    #[arg(long, env = "SWITCHBOARD_BREAKER_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub breaker_failures: u32,

    /// Circuit breakers: how long an open breaker refuses calls before letting probes through, in ms.
    #[arg(long, env = "SWITCHBOARD_BREAKER_OPEN_MS", default_value_t = 30_000)]
    pub breaker_open_ms: u64,

    /// Circuit breakers: probe calls let through while half-open; all must succeed to close it again.
    #[arg(long, env = "SWITCHBOARD_BREAKER_PROBES", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub breaker_probes: u32,

    /// Password of the `admin` account created on first start (a database without users). Without it a
    /// random password is generated and printed once.
    #[arg(long, env = "SWITCHBOARD_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Sessions: minutes without a request after which a session ends.
    #[arg(long, env = "SWITCHBOARD_SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub session_idle_minutes: u64,

    /// Sessions: hours after sign-in at which a session ends, used or not.
    #[arg(long, env = "SWITCHBOARD_SESSION_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_hours: u64,

    /// Mark the session cookie `Secure` on every answer (behind a TLS proxy that does not send
    /// `X-Forwarded-Proto: https`; requests that say so get `Secure` anyway).
    #[arg(long, env = "SWITCHBOARD_SECURE_COOKIES", value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub secure_cookies: bool,

    /// An origin besides the console's own host allowed to send changes, e.g. `https://ops.example.com`
    /// (repeat, or separate with commas in the variable).
    #[arg(long = "allowed-origin", env = "SWITCHBOARD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Take each client's address from the last `X-Forwarded-For` entry instead of the connection's
    /// peer — only behind a reverse proxy you run that appends it (otherwise anyone can claim any
    /// address). The sign-in throttle counts failures per username and client address.
    #[arg(long, env = "SWITCHBOARD_TRUST_FORWARDED_FOR", value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// This node's name among several on one PostgreSQL (default: host name and listen port). Keep it
    /// stable across restarts: a restarted node takes its own instances back at once.
    #[arg(long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<String>,

    /// Cluster: how long (ms) a node may be silent before the others take its instances and its
    /// leadership over. Takeover after a crash takes about this plus the claim interval.
    #[arg(long, env = "SWITCHBOARD_LEASE_MS", default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(500..=600_000))]
    pub lease_ms: u64,

    /// Cluster: how often (ms) a node renews its heartbeat (and the leader its lease); well below the lease.
    #[arg(long, env = "SWITCHBOARD_HEARTBEAT_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub heartbeat_ms: u64,

    /// Cluster: how often (ms) a node looks for unowned instances and those of gone nodes.
    #[arg(long, env = "SWITCHBOARD_CLAIM_INTERVAL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub claim_interval_ms: u64,

    /// Send request and transition spans to this OpenTelemetry collector over OTLP/HTTP (protobuf), e.g.
    /// `http://127.0.0.1:4318` (spans go to `/v1/traces` under it). Off when absent.
    #[arg(long, env = "SWITCHBOARD_OTLP_ENDPOINT", value_parser = crate::telemetry::traces::check_endpoint)]
    pub otlp_endpoint: Option<String>,
}

impl ServeArgs {
    /// Session lifetimes, cookie and origin rules from the flags.
    pub fn auth_config(&self) -> crate::auth::AuthConfig {
        crate::auth::AuthConfig {
            idle: std::time::Duration::from_secs(self.session_idle_minutes * 60),
            absolute: std::time::Duration::from_secs(self.session_hours * 3600),
            secure_cookies: self.secure_cookies,
            allowed_origins: self.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_string()).collect(),
            trust_forwarded_for: self.trust_forwarded_for,
            ..crate::auth::AuthConfig::default()
        }
    }

    /// The documented defaults on the given database, without demo traffic, listening on a free port:
    /// for tests and the benchmark (no environment variables are read).
    pub fn defaults_on(url: &DatabaseUrl) -> Self {
        Self {
            database: DatabaseArgs::new(url),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            no_demo: true,
            demo_rate: 5.0,
            sla_check_secs: 15,
            site_root: PathBuf::from("target/site"),
            services: Vec::new(),
            breaker_failures: 5,
            breaker_open_ms: 30_000,
            admin_password: None,
            session_idle_minutes: 30,
            session_hours: 12,
            secure_cookies: false,
            allowed_origins: Vec::new(),
            trust_forwarded_for: false,
            breaker_probes: 1,
            node_id: None,
            lease_ms: 3_000,
            heartbeat_ms: 500,
            claim_interval_ms: 500,
            otlp_endpoint: None,
        }
    }

    /// How this node takes part in a cluster, from the flags.
    ///
    /// # Errors
    /// A heartbeat that is not shorter than the lease (the node would lose its work while alive).
    pub fn cluster(&self) -> anyhow::Result<crate::cluster::ClusterConfig> {
        use std::time::Duration;
        anyhow::ensure!(
            self.heartbeat_ms * 2 <= self.lease_ms,
            "--heartbeat-ms ({}) must be at most half of --lease-ms ({}): a node renews its lease with its heartbeat",
            self.heartbeat_ms,
            self.lease_ms
        );
        let defaults = crate::cluster::ClusterConfig::default();
        Ok(crate::cluster::ClusterConfig {
            node_id: match &self.node_id {
                Some(id) => id.clone(),
                // Tests and the benchmark listen on port 0: several runtimes of one process need apart ids.
                None if self.listen.port() == 0 => defaults.node_id,
                None => crate::cluster::default_node_id(self.listen),
            },
            address: self.listen.to_string(),
            lease: Duration::from_millis(self.lease_ms),
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            claim_interval: Duration::from_millis(self.claim_interval_ms),
            ..defaults
        })
    }

    /// The breaker settings every service gets.
    pub fn breaker(&self) -> engine::BreakerConfig {
        engine::BreakerConfig {
            failure_threshold: self.breaker_failures,
            open_ms: self.breaker_open_ms,
            half_open_probes: self.breaker_probes,
        }
    }

    /// Time between SLA checks.
    pub fn sla_check_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.sla_check_secs)
    }
}

/// `--demo-rate`: a positive number of starts per second, at most 1,000.
fn demo_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if rate > 0.0 && rate <= 1_000.0 {
        Ok(rate)
    } else {
        Err("must be above 0 and at most 1000 workflows per second".into())
    }
}

/// `NAME[:ACTION+ACTION…]=URL` of `--service`.
///
/// The actions are the only ones definitions may use on the service (each one path segment: letters,
/// digits, `-` and `_`). They may be left out only for the name of a simulated marketplace service,
/// which then keeps the simulated service's actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    /// The declared actions, or `None` to keep those of the simulated service of the same name.
    pub actions: Option<Vec<String>>,
    pub url: String,
}

impl ServiceSpec {
    /// A spec for `name` at `url` declaring `actions`.
    pub fn new(name: &str, actions: &[&str], url: &str) -> Self {
        Self {
            name: name.to_string(),
            actions: Some(actions.iter().map(|action| action.to_string()).collect()),
            url: url.to_string(),
        }
    }
}

/// A service or action name: one safe path segment.
pub fn is_segment(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl std::str::FromStr for ServiceSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (head, url) = text
            .split_once('=')
            .ok_or("expected NAME:ACTION+ACTION=URL, e.g. billing:charge+refund=http://127.0.0.1:9000")?;
        let (name, actions) = match head.split_once(':') {
            Some((name, actions)) => (name, Some(actions.split('+').map(str::to_string).collect::<Vec<_>>())),
            None => (head, None),
        };
        if !is_segment(name) {
            return Err(format!("`{name}` is not a service name (letters, digits, - and _)"));
        }
        if let Some(actions) = &actions {
            if let Some(bad) = actions.iter().find(|action| !is_segment(action)) {
                return Err(format!(
                    "`{bad}` is not an action name of service `{name}`: one path segment of letters, digits, - and _"
                ));
            }
        }
        if url.starts_with("https://") {
            return Err(format!(
                "`{url}`: this build speaks plain HTTP only (no TLS); reach an https service through a local \
                 TLS-terminating proxy at an http:// URL"
            ));
        }
        if !url.starts_with("http://") {
            return Err(format!("`{url}` is not an http:// URL"));
        }
        Ok(Self { name: name.to_string(), actions, url: url.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_is_the_default_command() {
        let cli = Cli::try_parse_from(["switchboard", "--listen", "127.0.0.1:4000", "--no-demo"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen, "127.0.0.1:4000".parse().unwrap());
        assert!(cli.serve.no_demo);
    }

    #[test]
    fn services_are_name_equals_url() {
        let cli = Cli::try_parse_from([
            "switchboard",
            "--service",
            "billing=http://127.0.0.1:9000/b",
            "--service",
            "crm:lookup+update_contact=http://h",
        ])
        .unwrap();
        assert_eq!(cli.serve.services.len(), 2);
        assert_eq!(
            cli.serve.services[0],
            ServiceSpec { name: "billing".into(), actions: None, url: "http://127.0.0.1:9000/b".into() }
        );
        assert_eq!(cli.serve.services[1], ServiceSpec::new("crm", &["lookup", "update_contact"], "http://h"));
        let error = Cli::try_parse_from(["switchboard", "--service", "billing"]).unwrap_err().to_string();
        assert!(error.contains("expected NAME:ACTION+ACTION=URL"), "{error}");
        for bad in ["crm:../admin?x=1=http://h", "crm:=http://h", "crm:a+=http://h", "crm:a b=http://h"] {
            let error = Cli::try_parse_from(["switchboard", "--service", bad]).unwrap_err().to_string();
            assert!(error.contains("is not an action name of service `crm`"), "{bad}: {error}");
        }
    }

    #[test]
    fn breaker_settings_have_documented_defaults_and_reject_zero() {
        let cli = Cli::try_parse_from(["switchboard"]).unwrap();
        assert_eq!(
            cli.serve.breaker(),
            engine::BreakerConfig { failure_threshold: 5, open_ms: 30_000, half_open_probes: 1 }
        );
        assert!(Cli::try_parse_from(["switchboard", "--breaker-failures", "0"]).is_err());
    }

    #[test]
    fn migrate_takes_a_database_url() {
        let cli = Cli::try_parse_from(["switchboard", "migrate", "--database-url", "postgres://u:pw@h/db"]).unwrap();
        let Some(Command::Migrate(args)) = cli.command else { panic!("expected migrate") };
        assert_eq!(args.url().unwrap().to_string(), "postgres://u@h/db");
        assert!(!format!("{args:?}").contains("pw"), "Debug hides the password");
    }

    #[test]
    fn an_unsupported_scheme_is_refused_without_echoing_the_password() {
        let cli = Cli::try_parse_from(["switchboard", "--database-url", "mysql://root:pw@h/db"]).unwrap();
        let error = cli.serve.database.url().unwrap_err().to_string();
        assert!(error.contains("unsupported database URL scheme `mysql`"), "{error}");
        assert!(!error.contains("pw"), "{error}");
        assert!(!format!("{:?}", cli.serve).contains("pw"));
    }
}
