//! `GET /v1/stores` and `GET /v1/instances`: what the application has and who hosts it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::query::api::Api;

/// `GET /v1/stores`: every store with its kind, formats and the partitions hosted here.
pub(crate) async fn list(State(api): State<Arc<Api>>) -> Json<Value> {
    let stores: Vec<Value> = api
        .registry
        .stores()
        .iter()
        .enumerate()
        .map(|(index, store)| {
            let hosted = api.registry.hosted_partitions(index);
            let pick = |restoring: bool| -> Vec<i32> {
                hosted
                    .iter()
                    .filter(|(_, r)| *r == restoring)
                    .map(|(p, _)| *p)
                    .collect()
            };
            let spec = &store.spec;
            json!({
                "name": spec.name(),
                "kind": if spec.window().is_some() { "window" } else { "key-value" },
                "backend": format!("{:?}", spec.backend()).to_lowercase(),
                "key_format": spec.key_format().to_string(),
                "value_format": spec.value_format().to_string(),
                "partitions": api.registry.partition_count(index),
                "active": pick(false),
                "restoring": pick(true),
            })
        })
        .collect();
    Json(json!({ "instance": api.address, "stores": stores }))
}

/// `GET /v1/instances`: every live instance with its address and partitions.
pub(crate) async fn instances(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(json!({ "instance": api.address, "instances": api.directory.instances() }))
}
