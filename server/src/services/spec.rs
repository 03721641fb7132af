//! [`ServiceSpec`]: a service reached over HTTP, as configured with `--service NAME[:ACTION+ACTION…]=URL`.
//!
//! Parsed here rather than in the command line so the configuration (`serve::Config`) and
//! [`super::HttpService`] share one rule for what a service or action name may be ([`is_segment`]: one
//! safe path segment), and so nothing outside `cli` depends on the command-line parser.
//!
//! ```
//! use switchboard::services::ServiceSpec;
//! let spec: ServiceSpec = "billing:charge+refund=http://127.0.0.1:9000".parse().unwrap();
//! assert_eq!(spec, ServiceSpec::new("billing", &["charge", "refund"], "http://127.0.0.1:9000"));
//! ```

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
