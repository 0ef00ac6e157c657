//! Names of internal topics, consumer groups, clients and threads: built here and nowhere
//! else, so that every part of the engine (and every instance) agrees on them.
//!
//! | name | form |
//! |---|---|
//! | repartition topic | `<application.id>-<name>-repartition` |
//! | foreign-key join topics | `<application.id>-<name>-subscription-registration-topic`, `…-subscription-response-topic` |
//! | changelog topic | `<application.id>-<store>-changelog` |
//! | instance directory topic | `<application.id>-instances` |
//! | consumer group | `<application.id>` |
//! | restore consumer group | `<application.id>-restore` |

/// What follows a repartition topic's name.
const REPARTITION: &str = "-repartition";
/// What follows the name of a foreign-key join's subscription topic.
const SUBSCRIPTION_REGISTRATION: &str = "-subscription-registration-topic";
/// What follows the name of a foreign-key join's response topic.
const SUBSCRIPTION_RESPONSE: &str = "-subscription-response-topic";
/// What follows a changelog topic's store name.
const CHANGELOG: &str = "-changelog";

/// The part after `<application.id>-` of the repartition topic named `name`.
pub(crate) fn repartition_suffix(name: &str) -> String {
    format!("{name}{REPARTITION}")
}

/// The part after `<application.id>-` of the subscription topic of the foreign-key join
/// named `name`.
pub(crate) fn subscription_registration_suffix(name: &str) -> String {
    format!("{name}{SUBSCRIPTION_REGISTRATION}")
}

/// The part after `<application.id>-` of the response topic of the foreign-key join named
/// `name`.
pub(crate) fn subscription_response_suffix(name: &str) -> String {
    format!("{name}{SUBSCRIPTION_RESPONSE}")
}

/// The part after `<application.id>-` of store `store`'s changelog topic.
pub(crate) fn changelog_suffix(store: &str) -> String {
    format!("{store}{CHANGELOG}")
}

/// An internal topic's full name: `<application.id>-<suffix>`.
pub(crate) fn internal_topic(application_id: &str, suffix: &str) -> String {
    format!("{application_id}-{suffix}")
}

/// The changelog topic of store `store` of application `application_id`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    internal_topic(application_id, &changelog_suffix(store))
}

/// The compacted topic where the instances of application `application_id` publish their
/// address and what they host.
pub fn instances_topic(application_id: &str) -> String {
    internal_topic(application_id, "instances")
}

/// The consumer group id librdkafka requires of a restore consumer (which never joins it).
pub(crate) fn restore_group(application_id: &str) -> String {
    internal_topic(application_id, "restore")
}

/// A client's `client.id`: the application and the client's role.
pub(crate) fn client_id(application_id: &str, role: &str) -> String {
    internal_topic(application_id, role)
}

/// The name of stream thread `index`.
pub(crate) fn stream_thread(application_id: &str, index: usize) -> String {
    internal_topic(application_id, &format!("stream-thread-{index}"))
}

/// The `transactional.id` of stream thread `index` of process `process_id` under
/// exactly-once (KIP-447: `<application.id>-<process id>-<thread index>`).
pub(crate) fn transactional_id(application_id: &str, process_id: &str, index: usize) -> String {
    format!("{application_id}-{process_id}-{index}")
}

/// Whether `topic` is an internal topic of `application_id` that holds data derived from
/// its inputs — a changelog, repartition or foreign-key subscription topic — which an
/// application reset deletes (the next start creates it again).
pub(crate) fn is_derived_topic(application_id: &str, topic: &str) -> bool {
    topic
        .strip_prefix(application_id)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|rest| {
            [
                CHANGELOG,
                REPARTITION,
                SUBSCRIPTION_REGISTRATION,
                SUBSCRIPTION_RESPONSE,
            ]
            .iter()
            .any(|suffix| rest.len() > suffix.len() && rest.ends_with(suffix))
        })
}

/// Whether `topic` is an internal topic `application_id`'s consumer group reads: a
/// repartition or foreign-key subscription topic (derived, and not a changelog).
pub(crate) fn is_consumed_internal_topic(application_id: &str, topic: &str) -> bool {
    is_derived_topic(application_id, topic) && !topic.ends_with(CHANGELOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_topics_are_the_internal_ones_with_data() {
        assert!(is_derived_topic("app", "app-counts-changelog"));
        assert!(is_derived_topic("app", "app-words-repartition"));
        assert!(is_derived_topic(
            "app",
            "app-fk-subscription-registration-topic"
        ));
        assert!(is_derived_topic(
            "app",
            "app-fk-subscription-response-topic"
        ));
        assert!(!is_derived_topic("app", "app-instances"));
        assert!(!is_derived_topic("app", "apple-counts-changelog"));
        assert!(!is_derived_topic("app", "other-counts-changelog"));
        assert!(!is_derived_topic("app", "app--changelog"));
        assert!(is_consumed_internal_topic("app", "app-words-repartition"));
        assert!(is_consumed_internal_topic(
            "app",
            "app-fk-subscription-response-topic"
        ));
        assert!(!is_consumed_internal_topic("app", "app-counts-changelog"));
    }

    #[test]
    fn internal_names_follow_kafka_streams() {
        assert_eq!(changelog_topic("app", "counts"), "app-counts-changelog");
        assert_eq!(
            internal_topic("app", &repartition_suffix("words")),
            "app-words-repartition"
        );
        assert_eq!(instances_topic("app"), "app-instances");
        assert_eq!(restore_group("app"), "app-restore");
        assert_eq!(stream_thread("app", 2), "app-stream-thread-2");
    }
}
