//! The OpenAPI 3.1 document of the JSON API, served at `GET /api/openapi.json` for integrators who
//! generate clients.
//!
//! [`document`] walks the route table ([`RULES`]) and describes each route with [`describe`]: its
//! summary, query parameters (the handlers' own query structs, `utoipa::IntoParams`), request body and
//! answers (the wire types, `utoipa::ToSchema`, so the schemas follow the serde attributes). What is
//! *not* written by hand comes from the table: the set of operations, their path parameters, who may
//! call them (`security`, the `x-switchboard-permission` extension and a line of the description) and
//! the error answers that follow from them (401 and 503 for signed-in routes, 403 where a permission or
//! a POST is involved, 404 for addressed things, 400/422 for routes that read a query or a body, 413/415
//! for those that read a body).
//!
//! Why a table here rather than `#[utoipa::path]` on each handler: the permission already lives in
//! [`RULES`] and must not be written twice; the handlers are spread over seven modules whose routers
//! name the paths again, and a path macro would be a third copy. Here each route is described once,
//! next to all the others, and `server/tests/integration/openapi.rs` checks that the document's operations are
//! exactly the table's (minus [`UNDOCUMENTED`]) with the table's permissions, and that real answers
//! match their schemas — so a route added without a description fails a test.
//!
//! ```text
//! GET /api/openapi.json   → {"openapi": "3.1.0", "paths": {"/api/instances": {"get": {…}}, …}, …}
//! ```

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Components, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    Response as ApiResponse, ResponseBuilder, Tag,
};
use utoipa::{IntoParams, ToSchema};

use app::wire::{self as w, Permission, Role};

use crate::auth::policy::{Need, Rule, RULES};
// Aliased: the wire types (glob-imported in `describe`) have a `monitoring` module too.
use crate::http::api::{instances as instance_routes, monitoring as monitoring_routes};

/// Routes of the table that the document leaves out, and why (the description says so too).
pub const UNDOCUMENTED: &[(&str, &str, &str)] = &[
    ("GET", "/api/{*rest}", "the catch-all that answers 404 for unknown API paths"),
    ("POST", "/api/{*rest}", "the catch-all that answers 404 for unknown API paths"),
    ("POST", "/api/system_info", "a Leptos server function, internal to the console"),
    ("POST", "/api/instance_counts", "a Leptos server function, internal to the console"),
];

/// The extension naming what an operation needs: `public`, `signed_in`, or a permission's name.
pub const PERMISSION_EXTENSION: &str = "x-switchboard-permission";

/// The security schemes: the console's session cookie and an API token.
const SESSION: &str = "session";
const TOKEN: &str = "token";

/// The document, built once (it depends on the code only) and served as JSON text.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| document().to_json().expect("an OpenAPI document serialises to JSON"));

/// `GET /api/openapi.json`.
pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

/// The whole document: every route of [`RULES`] but [`UNDOCUMENTED`] that [`describe`] knows.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let mut paths = Paths::new();
    let mut tags = Vec::<String>::new();
    for rule in RULES.iter().filter(|rule| !is_undocumented(rule)) {
        // A route nobody described is left out here and fails `server/tests/integration/openapi.rs`.
        let Some(op) = describe(rule.method, rule.path, &mut schemas) else { continue };
        let tag = tag_of(rule.path);
        if !tags.contains(&tag) {
            tags.push(tag.clone());
        }
        let method = if rule.method == "POST" { HttpMethod::Post } else { HttpMethod::Get };
        paths.add_path_operation(rule.path, vec![method], operation(rule, tag, op));
    }
    // Named by references no operation's schema makes: the event stream's messages (in its extension)
    // and the error answers' body (in `components.responses`).
    schemas.one::<w::LiveEvent>();
    schemas.one::<w::ApiErrorBody>();

    let mut components = Components::new();
    components.schemas = schemas.0;
    components.responses = error_responses();
    components.add_security_schemes_from_iter([
        (
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The console's session, set by `POST /api/auth/sign-in`. Its POSTs must carry this \
                 site's `Origin`.",
            ))),
        ),
        (
            TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`POST /api/tokens`): `Authorization: Bearer <secret>`."))
                    .build(),
            ),
        ),
    ]);
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Switchboard API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description()))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .security(Some(signed_in_security(None)))
        .tags(Some(tags.into_iter().map(Tag::new)))
        .build()
}

fn description() -> String {
    let left_out: Vec<String> =
        UNDOCUMENTED.iter().map(|(method, path, why)| format!("`{method} {path}` ({why})")).collect();
    format!(
        "The JSON API of Switchboard: workflow definitions and instances, the intervention inbox, \
         monitoring and SLAs, services, schedules, users, API tokens and the audit trail. Reference with \
         examples: `docs/api.md`.\n\n\
         Authenticate with the session cookie of `POST /api/auth/sign-in` or an API token (`Authorization: \
         Bearer …`). Each operation names the permission it needs (`{PERMISSION_EXTENSION}`, and in its \
         security requirement) and, in its description, the roles that hold it (the matrix is also on the \
         console's users page). State changes are POST only.\n\n\
         Every error answers `{{\"error\": {{\"code\", \"message\", \"fields\"}}}}` (`ApiErrorBody`).\n\n\
         Left out: {}.",
        left_out.join("; ")
    )
}

fn is_undocumented(rule: &Rule) -> bool {
    UNDOCUMENTED.iter().any(|(method, path, _)| *method == rule.method && *path == rule.path)
}

/// `/api/instances/{id}` → `instances`.
fn tag_of(path: &str) -> String {
    path.trim_start_matches("/api/").trim_start_matches('/').split(['/', '.']).next().unwrap_or("api").to_string()
}

/// The name of what `need` asks for, as the extension and the security requirement carry it.
pub fn need_name(need: Need) -> String {
    match need {
        Need::Public => "public".into(),
        Need::SignedIn => "signed_in".into(),
        Need::Permission(permission) => permission_name(permission),
    }
}

fn permission_name(permission: Permission) -> String {
    serde_json::to_value(permission).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Either scheme; OpenAPI 3.1 lets non-OAuth schemes list required roles, here the permission.
fn signed_in_security(permission: Option<Permission>) -> Vec<SecurityRequirement> {
    let needs: Vec<String> = permission.map(permission_name).into_iter().collect();
    vec![SecurityRequirement::new(SESSION, needs.clone()), SecurityRequirement::new(TOKEN, needs)]
}

/// The schemas the operations refer to, by name, with everything they refer to in turn.
#[derive(Default)]
struct Schemas(BTreeMap<String, RefOr<Schema>>);

impl Schemas {
    /// A reference to `T`'s schema, added with its dependencies.
    fn one<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().to_string();
        if !self.0.contains_key(&name) {
            self.0.insert(name.clone(), T::schema());
            let mut nested = Vec::new();
            T::schemas(&mut nested);
            self.0.extend(nested);
        }
        Ref::from_schema_name(name).into()
    }

    /// An array of `T`.
    fn list<T: ToSchema>(&mut self) -> RefOr<Schema> {
        ArrayBuilder::new().items(self.one::<T>()).into()
    }
}

/// A JSON value of any shape, described in words.
fn any_json(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new().description(Some(description)).into()
}

/// One route's description: what [`describe`] writes by hand.
struct Op {
    id: &'static str,
    summary: &'static str,
    about: Option<&'static str>,
    params: Vec<Parameter>,
    body: Option<(RefOr<Schema>, bool)>,
    answers: Vec<(u16, ApiResponse)>,
    /// Errors particular to the route (409, 429); the others follow from the table.
    errors: Vec<u16>,
}

impl Op {
    fn new(id: &'static str, summary: &'static str) -> Self {
        Op { id, summary, about: None, params: Vec::new(), body: None, answers: Vec::new(), errors: Vec::new() }
    }

    fn about(mut self, text: &'static str) -> Self {
        self.about = Some(text);
        self
    }

    fn query<Q: IntoParams>(mut self) -> Self {
        self.params.extend(Q::into_params(|| Some(ParameterIn::Query)));
        self
    }

    fn header(mut self, name: &str, description: &str) -> Self {
        self.params.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
        self
    }

    /// A JSON body.
    fn body(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some((schema, false));
        self
    }

    /// A JSON body or the same fields as an HTML form (the sign-in page).
    fn body_or_form(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some((schema, true));
        self
    }

    fn json(mut self, status: u16, description: &str, schema: RefOr<Schema>) -> Self {
        let content = ContentBuilder::new().schema(Some(schema)).build();
        self.answers.push((
            status,
            ResponseBuilder::new().description(description).content("application/json", content).build(),
        ));
        self
    }

    fn ok(self, schema: RefOr<Schema>) -> Self {
        self.json(200, "OK", schema)
    }

    fn empty(mut self, status: u16, description: &str) -> Self {
        self.answers.push((status, ResponseBuilder::new().description(description).build()));
        self
    }

    fn svg(mut self) -> Self {
        let content = ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build();
        self.answers
            .push((200, ResponseBuilder::new().description("An SVG chart").content("image/svg+xml", content).build()));
        self
    }

    /// The Prometheus text exposition format.
    fn prometheus(mut self) -> Self {
        let content = ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build();
        let answer = ResponseBuilder::new()
            .description("Every series in the Prometheus text format (`docs/operations.md` lists them)")
            .content("text/plain; version=0.0.4", content)
            .build();
        self.answers.push((200, answer));
        self
    }

    fn errors(mut self, statuses: &[u16]) -> Self {
        self.errors.extend_from_slice(statuses);
        self
    }
}

/// One route, described: `None` for a route nobody described yet.
fn describe(method: &str, path: &str, s: &mut Schemas) -> Option<Op> {
    use w::*;
    let op = match (method, path) {
        ("GET", "/api/openapi.json") => Op::new("openapi", "This document").ok(any_json("An OpenAPI 3.1 document")),
        ("GET", "/metrics") => Op::new("metrics", "Prometheus metrics, for scraping")
            .about(
                "Engine transitions and their latency, the writer's batches and commits, service calls and \
                    breakers, HTTP requests by route, open interventions and SLA breaches.",
            )
            .prometheus(),
        ("GET", "/api/health") => Op::new("health", "Readiness, for load balancers")
            .about(
                "200 while the database answers and writes succeed; 503 with `status: degraded` and \
                    `problems` when not. Never waits on the database.",
            )
            .ok(s.one::<Health>())
            .json(503, "Degraded: the database does not answer, or writes fail", s.one::<Health>()),
        ("GET", "/api/health/live") => {
            Op::new("live", "Liveness: 200 while the process serves HTTP").ok(ObjectBuilder::new()
                .property("status", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["ok"])))
                .required("status")
                .into())
        }
        ("POST", "/api/auth/sign-in") => Op::new("signIn", "Sign in: sets the session cookie")
            .about(
                "JSON answers 200 with the user and a `Set-Cookie`; an HTML form (the sign-in page) is \
                    redirected (303) to `next` or back to the page with the error. Failed sign-ins are \
                    throttled per username and client address (429 with `Retry-After`); 503 when the \
                    password checks are all busy.",
            )
            .body_or_form(s.one::<SignIn>())
            .ok(s.one::<CurrentUser>())
            .empty(303, "Form sign-in: to `next`, or back to the sign-in page with the error")
            .errors(&[401, 429, 503]),
        ("POST", "/api/auth/sign-out") => Op::new("signOut", "Sign out: ends the session, clears the cookie")
            .empty(204, "Signed out")
            .empty(303, "Form sign-out: to the sign-in page")
            .errors(&[409]),
        ("GET", "/api/auth/me") => Op::new("me", "Who is asking: name, role, how signed in").ok(s.one::<CurrentUser>()),
        ("GET", "/api/events") => {
            let content = ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some("Each `data:` line is one `LiveEvent` as JSON"))
                .build();
            let mut op = Op::new("events", "The live feed: server-sent events").about(
                "One `LiveEvent` (JSON, tagged by `type`) per `data:` line: a heartbeat at once and \
                        every second, instance changes, SLA changes, inbox changes. Ends when the caller's \
                        access ends (signed out, disabled, token revoked) or the server stops.",
            );
            let mut response =
                ResponseBuilder::new().description("An event stream").content("text/event-stream", content).build();
            let extensions =
                ExtensionsBuilder::new().add("x-event-data", json!({"$ref": "#/components/schemas/LiveEvent"})).build();
            response.extensions = Some(extensions);
            op.answers.push((200, response));
            op
        }
        ("GET", "/api/cluster/nodes") => {
            Op::new("clusterNodes", "The nodes sharing the database").ok(s.one::<ClusterNodes>())
        }
        ("GET", "/api/definitions") => {
            Op::new("listDefinitions", "Every workflow type with its versions").ok(s.list::<DefinitionSummary>())
        }
        ("POST", "/api/definitions") => Op::new("registerDefinition", "Register a definition (a new version)")
            .about(
                "201 with the new version; 200 when the body equals the latest version (no new version). \
                    422 lists every problem of the definition.",
            )
            .body(any_json("A workflow definition, as `server/engine/DEFINITIONS.md` describes"))
            .json(201, "A new version", s.one::<RegisteredDefinition>())
            .ok(s.one::<RegisteredDefinition>()),
        ("GET", "/api/definitions/{name}") => {
            Op::new("definitionVersions", "Every version of one workflow type, oldest first")
                .ok(s.list::<DefinitionVersion>())
        }
        ("GET", "/api/definitions/{name}/versions/{version}") => {
            Op::new("definitionVersion", "One version of a definition").ok(s.one::<DefinitionVersion>())
        }
        ("GET", "/api/instances") => Op::new("listInstances", "Instances, newest first, filtered, paged by cursor")
            .query::<instance_routes::ListQuery>()
            .ok(s.one::<InstancePage>()),
        ("POST", "/api/instances") => Op::new("startInstance", "Start an instance")
            .about(
                "201 once the start is durable; 200 with the earlier instance when the idempotency key \
                    was used before.",
            )
            .header("Idempotency-Key", "The same as the body's `idempotency_key` (they must agree)")
            .body(s.one::<StartInstance>())
            .json(201, "Started", s.one::<InstanceDetail>())
            .ok(s.one::<InstanceDetail>())
            .errors(&[409]),
        ("POST", "/api/instances/bulk") => Op::new("bulkAction", "One operator action on many instances")
            .about("Chosen by `ids` or by `filter`; `preview` only counts.")
            .body(s.one::<BulkAction>())
            .ok(s.one::<BulkActionResult>()),
        ("GET", "/api/instances/{id}") => Op::new("instance", "One instance").ok(s.one::<InstanceDetail>()),
        ("GET", "/api/instances/{id}/history") => {
            Op::new("instanceHistory", "Every applied event, oldest first").ok(s.list::<HistoryEntry>())
        }
        ("GET", "/api/instances/{id}/steps") => {
            Op::new("instanceSteps", "Every finished attempt of a task or compensation").ok(s.list::<StepAttempt>())
        }
        ("GET", "/api/instances/{id}/wait") => Op::new("waitInstance", "Wait until the instance settles")
            .about(
                "Answers once the instance finished, failed or waits for a person, or the timeout passed, \
                    with the instance as it is then.",
            )
            .query::<instance_routes::WaitQuery>()
            .ok(s.one::<InstanceDetail>()),
        ("POST", "/api/instances/{id}/{action}") => Op::new("instanceAction", "An operator action on one instance")
            .about(
                "Answers with the instance once the action is durable; 409 when its state does not allow \
                    the action.",
            )
            .body(s.one::<InstanceAction>())
            .ok(s.one::<InstanceDetail>())
            .errors(&[409]),
        ("GET", "/api/interventions") => Op::new("listInterventions", "The inbox: items of a view, most urgent first")
            .query::<crate::interventions::http::ListQuery>()
            .ok(s.one::<InterventionList>()),
        ("GET", "/api/interventions/counts") => {
            Op::new("inboxCounts", "Open items per view").ok(s.one::<InboxCounts>())
        }
        ("POST", "/api/interventions/bulk-resolve") => Op::new("bulkResolve", "Resolve many items the same way")
            .body(s.one::<BulkResolve>())
            .ok(s.one::<BulkResolveResult>()),
        ("GET", "/api/interventions/{id}") => {
            Op::new("intervention", "One item with its history").ok(s.one::<InterventionDetail>())
        }
        ("POST", "/api/interventions/{id}/claim") => Op::new("claimIntervention", "Claim an item (no body, or `{}`)")
            .ok(s.one::<InterventionDetail>())
            .errors(&[409]),
        ("POST", "/api/interventions/{id}/assign") => {
            Op::new("assignIntervention", "Assign an item, or unassign it (`null`)")
                .body(s.one::<AssignIntervention>())
                .ok(s.one::<InterventionDetail>())
                .errors(&[409])
        }
        ("POST", "/api/interventions/{id}/resolve") => {
            Op::new("resolveIntervention", "Resolve an item; its run moves on")
                .body(s.one::<ResolveIntervention>())
                .ok(s.one::<InterventionDetail>())
                .errors(&[409])
        }
        ("GET", "/api/monitoring/metrics") => Op::new("successMetrics", "Success metrics per workflow")
            .query::<monitoring_routes::PeriodQuery>()
            .ok(s.one::<SuccessMetrics>()),
        ("GET", "/api/monitoring/dashboard") => Op::new("dashboard", "The dashboard's counters")
            .query::<monitoring_routes::PeriodOnlyQuery>()
            .ok(s.one::<Dashboard>()),
        ("GET", "/api/monitoring/throughput") => Op::new("throughput", "Started and finished per bucket")
            .query::<monitoring_routes::PeriodQuery>()
            .ok(s.one::<Throughput>()),
        ("GET", "/api/monitoring/states/{workflow}") => Op::new("stateMetrics", "Per-state figures of one workflow")
            .query::<monitoring_routes::PeriodOnlyQuery>()
            .ok(s.one::<StateMetricsReport>()),
        ("GET", "/api/monitoring/bottlenecks") => Op::new("bottlenecks", "States that hold instances up")
            .query::<monitoring_routes::PeriodQuery>()
            .ok(s.one::<Bottlenecks>()),
        ("GET", "/api/sla/targets") => Op::new("listSlaTargets", "Every SLA target").ok(s.list::<SlaTarget>()),
        ("POST", "/api/sla/targets") => Op::new("createSlaTarget", "Add an SLA target")
            .body(s.one::<SlaTargetInput>())
            .json(201, "Created", s.one::<SlaTarget>())
            .errors(&[409]),
        ("GET", "/api/sla/targets/{id}") => Op::new("slaTarget", "One SLA target").ok(s.one::<SlaTarget>()),
        ("POST", "/api/sla/targets/{id}") => Op::new("updateSlaTarget", "Change an SLA target")
            .body(s.one::<SlaTargetInput>())
            .ok(s.one::<SlaTarget>())
            .errors(&[409]),
        ("POST", "/api/sla/targets/{id}/delete") => {
            Op::new("deleteSlaTarget", "Remove an SLA target").empty(204, "Removed")
        }
        ("GET", "/api/sla/report") => Op::new("slaReport", "Each target: met, at risk or breached, with its trend")
            .query::<monitoring_routes::WorkflowQuery>()
            .ok(s.one::<SlaReport>()),
        ("GET", "/api/sla/breaches") => Op::new("slaBreaches", "SLA breaches, newest first")
            .query::<monitoring_routes::BreachQuery>()
            .ok(s.list::<SlaBreach>()),
        ("GET", "/api/charts/throughput.svg") => {
            Op::new("throughputChart", "Throughput as an SVG chart").query::<monitoring_routes::PeriodQuery>().svg()
        }
        ("GET", "/api/charts/steps.svg") => Op::new("stepsChart", "p50/p95/p99 of each step's time as an SVG chart")
            .about("`workflow` is required here.")
            .query::<monitoring_routes::PeriodQuery>()
            .svg(),
        ("GET", "/api/charts/sla/{id}") => {
            Op::new("slaChart", "An SLA target's trend against its threshold as an SVG chart").svg()
        }
        ("GET", "/api/services") => {
            Op::new("listServices", "Every service: breaker, calls of the last five minutes, per node")
                .ok(s.list::<ServiceStatus>())
        }
        ("POST", "/api/services/{name}/breaker") => {
            Op::new("serviceBreaker", "Trip or reset a service's circuit breaker")
                .body(s.one::<BreakerCommand>())
                .ok(s.one::<ServiceStatus>())
        }
        ("GET", "/api/services/{name}/faults") => {
            Op::new("serviceFaults", "A simulated service's faults").ok(s.one::<ServiceFaults>())
        }
        ("POST", "/api/services/{name}/faults") => Op::new("setServiceFaults", "Set a simulated service's faults")
            .body(s.one::<ServiceFaults>())
            .ok(s.one::<ServiceFaults>()),
        ("GET", "/api/schedules") => Op::new("listSchedules", "Every schedule").ok(s.one::<ScheduleList>()),
        ("GET", "/api/schedules/{name}") => Op::new("schedule", "One schedule").ok(s.one::<ScheduleView>()),
        ("POST", "/api/schedules/{name}") => Op::new("putSchedule", "Create or change a schedule")
            .body(s.one::<PutSchedule>())
            .ok(s.one::<ScheduleView>()),
        ("POST", "/api/schedules/{name}/run") => Op::new("runSchedule", "Start the schedule's workflow now")
            .about("201 once the start is durable; 200 when that start happened already.")
            .json(201, "Started", s.one::<RunStarted>())
            .ok(s.one::<RunStarted>())
            .errors(&[409]),
        ("GET", "/api/users") => Op::new("listUsers", "Every user").ok(s.list::<UserSummary>()),
        ("POST", "/api/users") => Op::new("createUser", "Create a user").body(s.one::<CreateUser>()).json(
            201,
            "Created",
            s.one::<UserSummary>(),
        ),
        ("POST", "/api/users/{username}") => Op::new("updateUser", "Change a user: name, role, disabled, password")
            .about(
                "Changing the role or password, or disabling, ends the user's sessions. The last enabled \
                    admin cannot be demoted or disabled (409).",
            )
            .body(s.one::<UpdateUser>())
            .ok(s.one::<UserSummary>())
            .errors(&[409]),
        ("GET", "/api/tokens") => {
            Op::new("listTokens", "Every API token (never the secret)").ok(s.list::<TokenSummary>())
        }
        ("POST", "/api/tokens") => Op::new("createToken", "Create an API token: the secret is in this answer only")
            .body(s.one::<CreateToken>())
            .json(201, "Created", s.one::<CreatedToken>()),
        ("POST", "/api/tokens/{id}/revoke") => {
            Op::new("revokeToken", "Revoke an API token").ok(s.one::<TokenSummary>()).errors(&[409])
        }
        ("GET", "/api/audit") => Op::new("audit", "The audit trail, newest first, in keyset pages")
            .query::<crate::auth::routes::audit::AuditQuery>()
            .ok(s.one::<AuditPage>()),
        _ => return None,
    };
    Some(op)
}

/// The operation of `rule`: `op` plus what the table implies.
fn operation(rule: &Rule, tag: String, op: Op) -> Operation {
    let need = rule.need;
    let mut params = path_parameters(rule.path);
    params.extend(op.params);
    let has_input = op.body.is_some() || params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let mut answers: BTreeMap<u16, RefOr<ApiResponse>> =
        op.answers.into_iter().map(|(status, response)| (status, response.into())).collect();
    let mut errors = op.errors;
    if has_input {
        errors.extend([400, 422]);
    }
    if op.body.is_some() {
        errors.extend([413, 415]);
    }
    if rule.path.contains('{') {
        errors.push(404);
    }
    if need != Need::Public {
        errors.extend([401, 503]);
    }
    if matches!(need, Need::Permission(_)) || rule.method == "POST" {
        errors.push(403);
    }
    for status in errors {
        answers.entry(status).or_insert_with(|| Ref::from_response_name(error_name(status)).into());
    }

    let permission_line = match need {
        Need::Public => "Permission: none (public).".to_string(),
        Need::SignedIn => "Permission: any signed-in user or token.".to_string(),
        Need::Permission(permission) => {
            let roles: Vec<&str> =
                Role::ALL.into_iter().filter(|role| role.allows(permission)).map(Role::as_str).collect();
            format!("Permission: `{}` (roles: {}).", permission_name(permission), roles.join(", "))
        }
    };
    let description = match op.about {
        Some(about) => format!("{about}\n\n{permission_line}"),
        None => permission_line,
    };
    let security = match need {
        Need::Public => vec![SecurityRequirement::default()],
        Need::SignedIn => signed_in_security(None),
        Need::Permission(permission) => signed_in_security(Some(permission)),
    };
    let mut builder = OperationBuilder::new()
        .operation_id(Some(op.id))
        .summary(Some(op.summary))
        .description(Some(description))
        .tag(tag)
        .parameters(Some(params))
        .securities(Some(security))
        .extensions(Some(ExtensionsBuilder::new().add(PERMISSION_EXTENSION, need_name(need)).build()));
    if let Some((schema, form)) = op.body {
        let mut body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", ContentBuilder::new().schema(Some(schema.clone())).build());
        if form {
            body =
                body.content("application/x-www-form-urlencoded", ContentBuilder::new().schema(Some(schema)).build());
        }
        builder = builder.request_body(Some(body.build()));
    }
    for (status, response) in answers {
        builder = builder.response(status.to_string(), response);
    }
    builder.build()
}

/// The `{name}`s of an axum path, as required string parameters.
fn path_parameters(path: &str) -> Vec<Parameter> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let (schema, description) = match name {
                "action" => (
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["cancel", "retry", "skip", "pause", "resume"])),
                    "The operator action",
                ),
                "version" => (ObjectBuilder::new().schema_type(Type::String), "A version number: 1, 2, …"),
                _ if path.starts_with("/api/charts/sla/") => {
                    (ObjectBuilder::new().schema_type(Type::String), "The SLA target's id followed by `.svg`")
                }
                _ => (ObjectBuilder::new().schema_type(Type::String), ""),
            };
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description((!description.is_empty()).then_some(description))
                .schema(Some(schema))
                .build()
        })
        .collect()
}

/// The name of the shared error answer of `status` under `components.responses`.
fn error_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        422 => "UnprocessableEntity",
        429 => "TooManyRequests",
        _ => "Unavailable",
    }
}

/// Every error answer: the one error shape, with its status's meaning (`crate::error::ApiError`).
fn error_responses() -> BTreeMap<String, RefOr<ApiResponse>> {
    let meanings = [
        (400, "`invalid_request`: the request cannot be read (malformed JSON, a query of the wrong type)"),
        (401, "`unauthorized`: no valid session or API token"),
        (403, "`forbidden`: the role does not allow this, or a POST came from a foreign `Origin`"),
        (404, "`not_found`: the addressed thing does not exist"),
        (409, "`conflict`: the request conflicts with the current state"),
        (413, "`invalid_request`: the body is larger than allowed (1 MiB; 4 KiB for sign-in)"),
        (415, "`invalid_request`: the body is not declared as JSON (`Content-Type: application/json`)"),
        (422, "`invalid_request`: the request fails validation; `fields` names each problem"),
        (429, "`too_many_requests`: too many failed sign-ins; wait `Retry-After` seconds"),
        (503, "`unavailable`: the database does not answer, or the server is busy; try again after `Retry-After`"),
    ];
    meanings
        .into_iter()
        .map(|(status, meaning)| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiErrorBody"))).build();
            let mut response = ResponseBuilder::new().description(meaning).content("application/json", content);
            if matches!(status, 429 | 503) {
                let seconds = HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                    .description(Some("Seconds to wait before trying again"))
                    .build();
                response = response.header("Retry-After", seconds);
            }
            (error_name(status).to_string(), response.build().into())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_path_parameters_come_from_the_path() {
        assert_eq!(tag_of("/api/instances/{id}/history"), "instances");
        assert_eq!(tag_of("/api/openapi.json"), "openapi");
        assert_eq!(tag_of("/metrics"), "metrics");
        let names: Vec<String> =
            path_parameters("/api/definitions/{name}/versions/{version}").into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["name", "version"]);
    }

    #[test]
    fn every_operation_has_a_unique_id() {
        let document = serde_json::to_value(document()).unwrap();
        let mut ids = std::collections::HashSet::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap().to_string();
                assert!(ids.insert(id.clone()), "operationId {id} twice");
            }
        }
    }
}
