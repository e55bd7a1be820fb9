//! Building and running the server: `Application::build` binds the
//! listener (port 0 in tests) and wires middleware, routes and documents.

use std::{net::TcpListener, time::Duration};

use actix_cors::Cors;
use actix_web::{
    dev::{Server, ServiceFactory, ServiceRequest},
    middleware::{from_fn, Condition},
    web, App, HttpRequest, HttpServer,
};
use chrono::Utc;
use secrecy::SecretString;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, UtoipaApp};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    config::Config,
    contract::{Contract, ContractError},
    edge::{self, RequestDeadline},
    error::ApiError,
    extract::body::BodyDeadline,
    extract::json::MAX_BODY_BYTES,
    metrics,
    openapi::{self, BaseDoc, MethodTable},
    request_id::{self, RequestSpan},
    routes,
    security::{jwt::JwtKeys, password::Hasher, secrets},
    state::AppState,
};

/// In-flight requests get this long to finish after a shutdown signal.
const GRACE_PERIOD_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[from] pipewise_storage::StoreError),
    #[error(transparent)]
    WeakSecret(#[from] crate::security::jwt::WeakSecret),
    #[error(transparent)]
    Contract(#[from] crate::contract::ContractError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
}

pub struct Application {
    server: Server,
    port: u16,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let store =
            pipewise_storage::connect(&config.database_url, std::sync::Arc::new(crate::render::ApiRender)).await?;
        let secret = match config.jwt_secret.clone() {
            Some(secret) => secret,
            // Kept in the database, so every process and every restart signs alike.
            None => SecretString::from(
                store
                    .setting_or_insert("jwt_secret", &secrets::signing_secret(), Utc::now())
                    .await?,
            ),
        };
        let hash_slots = config
            .hash_slots
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let hasher = Hasher::new(hash_slots, Duration::from_secs(config.hash_wait_secs));
        let state = AppState::new(
            store,
            JwtKeys::new(&secret)?,
            config.allow_signup,
            hasher,
            config.signup_rate_per_client,
        );
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                address: config.bind.clone(),
                source,
            })?
            .port();

        let origins = config.cors_origins.clone();
        let form_limits = routes::public_forms::FormRateLimits {
            per_form: config.form_rate_per_form,
            per_client: config.form_rate_per_client,
        };
        // The contract, built once: served at /openapi.json and compiled into
        // the checks every worker applies to requests.
        let document = serde_json::to_value(openapi::contract(&openapi_document())).map_err(ContractError::from)?;
        let contract = web::Data::new(Contract::compile(&document)?);
        let body_deadline = BodyDeadline(Duration::from_secs(config.body_timeout_secs));
        let request_deadline = RequestDeadline(Duration::from_secs(config.request_timeout_secs));
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            let (app, api) = register_routes(
                App::new()
                    .into_utoipa_app()
                    .openapi(BaseDoc::openapi())
                    .map(|app| {
                        app.wrap(from_fn(edge::middleware))
                            .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
                            .wrap(from_fn(metrics::middleware))
                            .wrap(TracingLogger::<RequestSpan>::new())
                            .wrap(from_fn(request_id::middleware))
                    })
                    .app_data(web::Data::new(app_state.clone()))
                    .app_data(web::Data::new(form_limits))
                    .app_data(contract.clone())
                    .app_data(body_deadline)
                    .app_data(request_deadline)
                    .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                    // The contract has named the parameter for anything it can state
                    // (edge.rs); what reaches here breaks a rule it cannot.
                    .app_data(web::QueryConfig::default().error_handler(|_, _| {
                        ApiError::BadRequest(
                            "The query parameters are invalid; see this operation's parameters.".to_owned(),
                        )
                        .into()
                    }))
                    .app_data(web::PathConfig::default().error_handler(|err, req| {
                        let literal = req
                            .app_data::<web::Data<MethodTable>>()
                            .and_then(|table| table.literal(req.path()));
                        match literal {
                            Some(allowed) => ApiError::MethodNotAllowed(allowed).into(),
                            None => ApiError::BadRequest(format!("Invalid path parameter: {err}.")).into(),
                        }
                    })),
            )
            .split_for_parts();
            let methods = web::Data::new(MethodTable::new(&api));
            app.app_data(methods)
                .service(SwaggerUi::new("/docs/{_:.*}").external_url_unchecked("/openapi.json", document.clone()))
                .service(web::redirect("/docs", "/docs/"))
                .default_service(web::to(fallback))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?
        .disable_signals()
        .shutdown_timeout(GRACE_PERIOD_SECS);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        crate::housekeeping::spawn(state.store.clone());
        Ok(Self {
            server: server.run(),
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM; then `/readyz` answers 503, the
    /// listener closes, and in-flight requests get the grace period to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            state.start_draining();
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// Every documented route; what is registered here is what the contract lists.
fn register_routes<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.configure(routes::operations::configure)
        .service(utoipa_actix_web::scope("/api/v1").configure(routes::api))
        .service(
            utoipa_actix_web::scope("/public/v1")
                .wrap(routes::public_forms::cors())
                .configure(routes::public_forms::configure),
        )
}

/// The OpenAPI document as the routes generate it (see [`openapi::contract`]
/// for the one served and committed).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    register_routes(App::new().into_utoipa_app().openapi(BaseDoc::openapi()))
        .split_for_parts()
        .1
}

/// The contract, as served at `/openapi.json` and committed as `openapi.yaml`.
pub fn openapi_yaml() -> String {
    serde_norway::to_string(&openapi::contract(&openapi_document())).expect("the contract serializes")
}

/// Unknown path: 404. Known path, other method: 405 with `Allow`.
async fn fallback(req: HttpRequest, methods: web::Data<MethodTable>) -> Result<actix_web::HttpResponse, ApiError> {
    match methods.allowed(req.path()) {
        Some(allowed) => Err(ApiError::MethodNotAllowed(allowed)),
        None => Err(ApiError::NotFound),
    }
}

/// CORS for the configured origins. `/public/v1` admits any origin (its
/// own CORS, see `public_forms::cors`), so this outer layer must not turn
/// other origins' preflights for it away.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_origin_fn(|_, head| head.uri.path().starts_with("/public/"))
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            "authorization",
            "content-type",
            "x-api-key",
            "if-match",
            "idempotency-key",
            "x-request-id",
        ])
        .expose_headers(["etag", "location", "x-request-id", "retry-after"])
        .max_age(3600)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
