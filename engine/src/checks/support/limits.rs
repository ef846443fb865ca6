//! LimitRange items as the API server stores them.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::LimitRangeItem;

/// The resources a LimitRange item gives containers a default limit for, as the API server stores the item:
/// for `type: Container`, `default` plus every `max` resource without a default; other types none.
// k8s pkg/apis/core/v1/defaults.go SetDefaults_LimitRangeItem: "If a default limit is unspecified, but the
// max is specified, default the limit to the max" (it then fills defaultRequest from default, then from min).
pub fn default_limit_resources(item: &LimitRangeItem) -> BTreeSet<&str> {
    if item.type_ != "Container" {
        return BTreeSet::new();
    }
    item.default.iter().chain(item.max.iter()).flat_map(|list| list.keys()).map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: serde_json::Value) -> LimitRangeItem {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn max_without_default_becomes_the_default_limit() {
        let max_only = item(serde_json::json!({"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}}));
        assert_eq!(default_limit_resources(&max_only), BTreeSet::from(["cpu", "memory"]));
        let mixed =
            item(serde_json::json!({"type": "Container", "default": {"cpu": "500m"}, "max": {"memory": "1Gi"}}));
        assert_eq!(default_limit_resources(&mixed), BTreeSet::from(["cpu", "memory"]));
    }

    #[test]
    fn min_and_default_request_give_no_limit() {
        let requests = item(
            serde_json::json!({"type": "Container", "min": {"cpu": "100m"}, "defaultRequest": {"memory": "64Mi"}}),
        );
        assert!(default_limit_resources(&requests).is_empty());
    }

    #[test]
    fn only_container_items_are_defaulted() {
        let pod = item(serde_json::json!({"type": "Pod", "max": {"cpu": "2"}}));
        assert!(default_limit_resources(&pod).is_empty());
    }
}
