//! `strata-api`: REST API (axum): routes, error format, auth.
