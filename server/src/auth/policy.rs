//! The route table: every API route and server function, with what a caller needs to use it.
//!
//! The guard looks a request up by its method and the route it matched (`MatchedPath`). A route missing
//! from [`RULES`] is refused for everyone (deny by default), so a new route is unusable until someone
//! decides who may use it here — and `server/tests/integration/permissions.rs` walks this table for every role.
//! State changes are POST-only: no rule names PUT, PATCH or DELETE.

use app::wire::Permission;

/// What a caller needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user or token, whatever the role.
    SignedIn,
    /// A role that allows this permission.
    Permission(Permission),
}

/// One route: its method (`GET` covers `HEAD`), its path as registered with axum, and its need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub need: Need,
}

const fn rule(method: &'static str, path: &'static str, need: Need) -> Rule {
    Rule { method, path, need }
}

use Need::{Public, SignedIn};
use Permission as P;

const fn may(permission: Permission) -> Need {
    Need::Permission(permission)
}

/// Every API route and server function.
pub const RULES: &[Rule] = &[
    // Health is for load balancers; signing in needs no session.
    rule("GET", "/api/health", Public),
    rule("GET", "/api/health/live", Public),
    rule("POST", "/api/auth/sign-in", Public),
    rule("POST", "/api/auth/sign-out", SignedIn),
    rule("GET", "/api/auth/me", SignedIn),
    // The OpenAPI document: signed in, not public — it lists the admin routes and their permissions,
    // a map an anonymous caller has no use for. Every role may read it.
    rule("GET", "/api/openapi.json", SignedIn),
    // The live feed and the console's server functions.
    rule("GET", "/api/events", may(P::View)),
    rule("POST", "/api/system_info", may(P::View)),
    rule("POST", "/api/instance_counts", may(P::View)),
    // The nodes sharing the database.
    rule("GET", "/api/cluster/nodes", may(P::View)),
    // Definitions.
    rule("GET", "/api/definitions", may(P::View)),
    rule("POST", "/api/definitions", may(P::ManageDefinitions)),
    rule("GET", "/api/definitions/{name}", may(P::View)),
    rule("GET", "/api/definitions/{name}/versions/{version}", may(P::View)),
    // Instances.
    rule("GET", "/api/instances", may(P::View)),
    rule("POST", "/api/instances", may(P::OperateInstances)),
    rule("POST", "/api/instances/bulk", may(P::OperateInstances)),
    rule("GET", "/api/instances/{id}", may(P::View)),
    rule("GET", "/api/instances/{id}/history", may(P::View)),
    rule("GET", "/api/instances/{id}/steps", may(P::View)),
    rule("GET", "/api/instances/{id}/wait", may(P::View)),
    rule("POST", "/api/instances/{id}/{action}", may(P::OperateInstances)),
    // The intervention inbox.
    rule("GET", "/api/interventions", may(P::View)),
    rule("GET", "/api/interventions/counts", may(P::View)),
    rule("POST", "/api/interventions/bulk-resolve", may(P::WorkInterventions)),
    rule("GET", "/api/interventions/{id}", may(P::View)),
    rule("POST", "/api/interventions/{id}/claim", may(P::WorkInterventions)),
    rule("POST", "/api/interventions/{id}/assign", may(P::WorkInterventions)),
    rule("POST", "/api/interventions/{id}/resolve", may(P::WorkInterventions)),
    // Monitoring and SLA.
    rule("GET", "/api/monitoring/metrics", may(P::View)),
    rule("GET", "/api/monitoring/dashboard", may(P::View)),
    rule("GET", "/api/monitoring/throughput", may(P::View)),
    rule("GET", "/api/monitoring/states/{workflow}", may(P::View)),
    rule("GET", "/api/monitoring/bottlenecks", may(P::View)),
    rule("GET", "/api/sla/targets", may(P::View)),
    rule("POST", "/api/sla/targets", may(P::ManageSla)),
    rule("GET", "/api/sla/targets/{id}", may(P::View)),
    rule("POST", "/api/sla/targets/{id}", may(P::ManageSla)),
    rule("POST", "/api/sla/targets/{id}/delete", may(P::ManageSla)),
    rule("GET", "/api/sla/report", may(P::View)),
    rule("GET", "/api/sla/breaches", may(P::View)),
    rule("GET", "/api/charts/throughput.svg", may(P::View)),
    rule("GET", "/api/charts/steps.svg", may(P::View)),
    rule("GET", "/api/charts/sla/{id}", may(P::View)),
    // Services.
    rule("GET", "/api/services", may(P::View)),
    rule("POST", "/api/services/{name}/breaker", may(P::OperateServices)),
    rule("GET", "/api/services/{name}/faults", may(P::View)),
    rule("POST", "/api/services/{name}/faults", may(P::OperateServices)),
    // Schedules.
    rule("GET", "/api/schedules", may(P::View)),
    rule("GET", "/api/schedules/{name}", may(P::View)),
    rule("POST", "/api/schedules/{name}", may(P::ManageSchedules)),
    rule("POST", "/api/schedules/{name}/run", may(P::ManageSchedules)),
    // Users, tokens, audit.
    rule("GET", "/api/users", may(P::ManageUsers)),
    rule("POST", "/api/users", may(P::ManageUsers)),
    rule("POST", "/api/users/{username}", may(P::ManageUsers)),
    rule("GET", "/api/tokens", may(P::ManageUsers)),
    rule("POST", "/api/tokens", may(P::ManageUsers)),
    rule("POST", "/api/tokens/{id}/revoke", may(P::ManageUsers)),
    rule("GET", "/api/audit", may(P::ReadAudit)),
    // Prometheus scrapes (outside /api/, guarded like it).
    rule("GET", "/metrics", may(P::View)),
    // Unknown API paths answer 404 to signed-in callers.
    rule("GET", "/api/{*rest}", SignedIn),
    rule("POST", "/api/{*rest}", SignedIn),
];

/// What the table says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Need),
    /// The route exists, but not for this method (state changes are POST-only).
    WrongMethod,
    /// No rule covers the route: refused for everyone.
    Unlisted,
}

/// Looks up `method` (HEAD counts as GET) on the route pattern `path`.
pub fn lookup(method: &str, path: &str) -> Lookup {
    let method = if method == "HEAD" { "GET" } else { method };
    let mut path_known = false;
    for rule in RULES.iter().filter(|rule| rule.path == path) {
        path_known = true;
        if rule.method == method {
            return Lookup::Found(rule.need);
        }
    }
    if path_known {
        Lookup::WrongMethod
    } else {
        Lookup::Unlisted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_get_or_post_and_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            assert!(rule.method == "GET" || rule.method == "POST", "{rule:?}");
            assert!(seen.insert((rule.method, rule.path)), "listed twice: {rule:?}");
        }
    }

    #[test]
    fn unknown_routes_are_denied_and_wrong_methods_named() {
        assert_eq!(lookup("GET", "/api/secret-new-route"), Lookup::Unlisted);
        assert_eq!(lookup("DELETE", "/api/sla/targets/{id}"), Lookup::WrongMethod);
        assert_eq!(lookup("HEAD", "/api/health"), Lookup::Found(Need::Public));
        assert_eq!(lookup("POST", "/api/users"), Lookup::Found(Need::Permission(Permission::ManageUsers)));
    }
}
