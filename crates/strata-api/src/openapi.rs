//! The OpenAPI 3 document, generated from the route attributes and the body types, served
//! at `GET /openapi.json` (no UI bundle).

use crate::{activity, leases, metrics, partitions, servers, stats, telemetry, tiers, volumes};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API's OpenAPI description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Strata REST API",
        description = "Tiered block storage for VM volumes. Errors are \
            `{\"error\": {\"code\", \"message\"}}`; 4xx for the caller's mistakes, 5xx only \
            for the server's. Request bodies reject unknown fields and are limited to 64 KiB."
    ),
    paths(
        crate::healthz,
        metrics::handler,
        servers::list,
        stats::stats,
        volumes::list,
        volumes::create,
        volumes::show,
        volumes::delete,
        volumes::profile,
        partitions::create_backing,
        partitions::delete_backing,
        telemetry::post,
        leases::routes::acquire,
        leases::routes::renew,
        leases::routes::release,
        leases::routes::list,
        leases::routes::reservations,
        activity::migrations,
        activity::prefetch,
    ),
    components(schemas(
        crate::ErrorReply,
        crate::ErrorDetail,
        crate::Health,
        tiers::Tier,
        tiers::Profile,
        tiers::TierIo,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "server", description = "Health, servers, statistics and metrics"),
        (name = "volumes", description = "Volumes, their profiles and telemetry"),
        (name = "leases", description = "Leases and soft reservations (control plane)"),
        (name = "tiering", description = "Migrations and prefetch"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme that `STRATA_API_TOKEN` enables.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The OpenAPI 3 document of this API.
pub async fn handler() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}
