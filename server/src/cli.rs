//! The command line. Every flag can also be set through the environment variable named in its help, so
//! the same binary is configured the same way by hand, by systemd or by a container.
//!
//! The only module that knows clap: each command's arguments become the plain configuration of the
//! library module that runs it — [`ServeArgs::config`] a [`serve::Config`], [`SeedArgs::config`] a
//! [`seed::Config`], [`BenchArgs`] a [`bench::Config`] — so dependencies point one way, from here to
//! `serve`, `seed` and `bench`, never back.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{builder::BoolishValueParser, Args, Parser, Subcommand, ValueEnum};

use crate::db::DatabaseUrl;
use crate::services::ServiceSpec;
use crate::{bench, seed, serve};

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
    Bench(BenchArgs),
    /// Fill the database with realistic finished history (a progress bar on stderr).
    Seed(SeedArgs),
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
    /// The configuration these flags describe.
    ///
    /// # Errors
    /// The database URL is not valid (the message shows it without its password).
    pub fn config(&self) -> Result<serve::Config, crate::db::Error> {
        use std::time::Duration;
        Ok(serve::Config {
            database: self.database.url()?,
            listen: self.listen,
            no_demo: self.no_demo,
            demo_rate: self.demo_rate,
            sla_check_interval: Duration::from_secs(self.sla_check_secs),
            site_root: self.site_root.clone(),
            services: self.services.clone(),
            breaker: self.breaker(),
            admin_password: self.admin_password.clone(),
            auth: crate::auth::AuthConfig {
                idle: Duration::from_secs(self.session_idle_minutes * 60),
                absolute: Duration::from_secs(self.session_hours * 3600),
                secure_cookies: self.secure_cookies,
                allowed_origins: self.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_string()).collect(),
                trust_forwarded_for: self.trust_forwarded_for,
                ..crate::auth::AuthConfig::default()
            },
            node_id: self.node_id.clone(),
            lease: Duration::from_millis(self.lease_ms),
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            claim_interval: Duration::from_millis(self.claim_interval_ms),
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
}

/// Options of `switchboard seed`.
#[derive(Clone, Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// How many instances to add.
    #[arg(long, default_value_t = 100_000)]
    pub instances: u64,
    /// Spread their start times over this many days up to now.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: u32,
    /// Seeds every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instances per transaction.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub chunk: u64,
}

impl SeedArgs {
    /// The configuration these flags describe.
    ///
    /// # Errors
    /// The database URL is not valid (the message shows it without its password).
    pub fn config(&self) -> Result<seed::Config, crate::db::Error> {
        Ok(seed::Config {
            database: self.database.url()?,
            instances: self.instances,
            days: self.days,
            seed: self.seed,
            chunk: self.chunk,
        })
    }
}

/// Options of `switchboard bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Workflows per run.
    #[arg(long, default_value_t = 10_000)]
    pub workflows: u64,
    /// Concurrent closed-loop clients.
    #[arg(long, default_value_t = 100)]
    pub concurrency: u64,
    /// Which modes to run.
    #[arg(long, value_enum, default_value_t = BenchMode::Both)]
    pub mode: BenchMode,
    /// Also run on PostgreSQL: a server URL; a fresh database is created on it for each run and dropped
    /// afterwards (the URL's own database is only used to connect).
    #[arg(long, env = "SWITCHBOARD_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Skip SQLite (with --postgres-url, run on PostgreSQL only).
    #[arg(long)]
    pub no_sqlite: bool,
    /// Instead of throughput, start this many instances that wait on a one-day timer and report the
    /// process's peak memory.
    #[arg(long)]
    pub waiting: Option<u64>,
    /// Instead of throughput, measure every monitoring endpoint over the history stored in this
    /// database (`sqlite:PATH` or `postgres://…`; fill it with `switchboard seed` first).
    #[arg(long)]
    pub monitoring: Option<String>,
    /// Requests per endpoint with --monitoring.
    #[arg(long, default_value_t = 50)]
    pub requests: u64,
    /// Instead of the single-node runs, run the saga on this many nodes sharing the PostgreSQL database
    /// of --postgres-url (comma-separated counts, e.g. `1,2,3`), then measure takeovers and the feed.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<usize>,
    /// With --nodes: how many node deaths to time (takeover by a survivor).
    #[arg(long, default_value_t = 20)]
    pub kills: u32,
}

/// `--mode` of `switchboard bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    InProcess,
    Http,
    Both,
}

impl From<BenchArgs> for bench::Config {
    fn from(args: BenchArgs) -> Self {
        bench::Config {
            workflows: args.workflows,
            concurrency: args.concurrency,
            mode: match args.mode {
                BenchMode::InProcess => bench::Mode::InProcess,
                BenchMode::Http => bench::Mode::Http,
                BenchMode::Both => bench::Mode::Both,
            },
            postgres_url: args.postgres_url,
            no_sqlite: args.no_sqlite,
            waiting: args.waiting,
            monitoring: args.monitoring,
            requests: args.requests,
            nodes: args.nodes,
            kills: args.kills,
        }
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
