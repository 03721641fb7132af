//! The process's `tracing` subscriber: logs to stderr, and — with `--otlp-endpoint` — request and
//! transition spans to an OpenTelemetry collector over OTLP/HTTP (protobuf).
//!
//! Two layers on one registry, each with its own filter. The log layer takes the `--log` filter with
//! [`OTEL_TARGET`] turned off; the span layer takes only [`OTEL_TARGET`]. So logs read as before, the
//! collector receives only the spans made for it (`telemetry::http`, `telemetry::transitions`) and
//! none of the libraries' own, and without the flag no layer wants those spans at all: `tracing` then
//! caches that at each callsite and never builds them.
//!
//! Spans leave in batches from the SDK's own thread, through a blocking HTTP client that runs beside
//! the server's runtime (plain `http://`: this build carries no TLS). [`Traces`] flushes what is left
//! when dropped, at the end of `main`.

use std::time::Duration;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};
use url::Url;

/// The `tracing` target of every span meant for the collector.
pub const OTEL_TARGET: &str = "switchboard::otel";

/// The service name the collector sees (`service.name`).
const SERVICE_NAME: &str = "switchboard";

/// How long the last flush at exit may take: the process must still stop in bounded time.
const FLUSH_WITHIN: Duration = Duration::from_secs(5);

/// The installed subscriber's exporter, if any: dropping it sends the spans still queued.
#[must_use = "dropping it at once would stop the trace export"]
pub struct Traces {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown_with_timeout(FLUSH_WITHIN) {
                eprintln!("switchboard: the last spans were not exported: {error}");
            }
        }
    }
}

/// Installs the process's subscriber: logs by `log_filter` (EnvFilter syntax) to stderr, and spans to
/// the collector at `otlp` when given.
///
/// # Errors
/// A subscriber is already installed, or the exporter cannot be built.
pub fn init(log_filter: &str, otlp: Option<&str>) -> anyhow::Result<Traces> {
    let filter = EnvFilter::try_new(log_filter)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(format!("{OTEL_TARGET}=off").parse().context("the trace target's filter")?);
    let logs = tracing_subscriber::fmt::layer().with_target(false).with_writer(std::io::stderr).with_filter(filter);
    let (spans, provider) = match otlp {
        Some(endpoint) => {
            let (layer, provider) = otlp_layer(endpoint)?;
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    tracing_subscriber::registry().with(spans).with(logs).try_init().context("cannot install the log subscriber")?;
    if let Some(endpoint) = otlp {
        tracing::info!("exporting request and transition spans to {}", endpoint);
    }
    Ok(Traces { provider })
}

/// The span layer for a collector at `endpoint` (its OTLP/HTTP base, e.g. `http://collector:4318`;
/// spans go to `/v1/traces` under it), filtered to [`OTEL_TARGET`], with the provider to flush and
/// shut down. It goes first on a [`Registry`]; tests install it on a subscriber of their own.
///
/// # Errors
/// The endpoint is not an `http://` URL, or the exporter cannot be built.
pub fn otlp_layer(endpoint: &str) -> anyhow::Result<(impl Layer<Registry> + Send + Sync + 'static, SdkTracerProvider)> {
    let endpoint = parse_endpoint(endpoint).map_err(anyhow::Error::msg)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(&endpoint).as_str())
        .build()
        .context("cannot build the OTLP span exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        // Thread ids and busy/idle nanoseconds say little about a request or a transition.
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target(OTEL_TARGET, Level::TRACE));
    Ok((layer, provider))
}

/// Where spans are posted: `/v1/traces` under the endpoint, unless it already names a path.
pub fn traces_url(endpoint: &Url) -> Url {
    let mut url = endpoint.clone();
    if url.path().trim_end_matches('/').is_empty() {
        url.set_path("/v1/traces");
    }
    url
}

/// Checks `--otlp-endpoint` when the command line is read: an `http://` URL (this build has no TLS;
/// reach an https collector through a local proxy or agent). The flag keeps the text, which is parsed
/// again here when the subscriber starts.
///
/// # Errors
/// Not a URL, or not `http://`.
pub fn check_endpoint(text: &str) -> Result<String, String> {
    parse_endpoint(text).map(|_| text.to_string())
}

/// The endpoint as a URL; see [`check_endpoint`].
///
/// # Errors
/// Not a URL, or not `http://`.
pub fn parse_endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("`{text}` is not a URL: {error}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "`{text}`: the OTLP endpoint must be http:// (this build has no TLS; use a local collector or agent)"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_go_to_v1_traces_unless_a_path_is_given() {
        let base = parse_endpoint("http://collector:4318").unwrap();
        assert_eq!(traces_url(&base).as_str(), "http://collector:4318/v1/traces");
        let full = parse_endpoint("http://collector:4318/custom/traces").unwrap();
        assert_eq!(traces_url(&full).as_str(), "http://collector:4318/custom/traces");
        assert!(parse_endpoint("https://collector:4318").unwrap_err().contains("http://"));
        assert!(parse_endpoint("collector:4318 x").is_err());
        assert_eq!(check_endpoint("http://c:4318").as_deref(), Ok("http://c:4318"));
    }
}
