//! The E2B endpoints sandkitd does not serve yet, in one table. Each answers 501 with the
//! API's JSON error naming the feature: a 404 would read as "sandbox not found" to the
//! official SDKs, which is not what went wrong. A row goes when its feature lands.

use super::AppState;
use crate::auth::Team;
use crate::error::ApiError;
use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::{MethodFilter, on};
use std::sync::Arc;

/// (method, route, the feature as a user would name it).
const NOT_YET: &[(Method, &str, &str)] = &[
    (Method::POST, "/templates", "template builds"),
    (Method::POST, "/v2/templates", "template builds"),
    (Method::POST, "/v3/templates", "template builds"),
    (Method::GET, "/templates/{id}", "templates"),
];

/// `router` with a 501 answer for every row of [`NOT_YET`]; the API key is still checked
/// first, so an unauthenticated caller learns nothing more than 401.
pub fn add_routes(mut router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    for (method, path, feature) in NOT_YET {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
        let answer = move |Team(_): Team| async move { not_implemented(feature) };
        router = router.route(path, on(filter, answer));
    }
    router
}

fn not_implemented(feature: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("{feature} is not implemented by sandkitd yet"),
    )
}
