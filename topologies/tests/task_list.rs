//! The task-list projection in the test driver.

use tributary_engine::serde::{JsonSerde, StringSerde};
use tributary_engine::{StreamsConfig, TopologyTestDriver};
use tributary_topologies::task_list::{self, OpenTask, TaskEvent, TaskEventKind};

fn event(task_id: &str, kind: TaskEventKind, user: Option<&str>, title: Option<&str>) -> TaskEvent {
    TaskEvent {
        task_id: task_id.into(),
        kind,
        user: user.map(Into::into),
        title: title.map(Into::into),
    }
}

/// The projection (without profiles) in a test driver after `events`, the n-th at time n.
fn project(events: impl IntoIterator<Item = TaskEvent>) -> TopologyTestDriver {
    let topology = task_list::projection("task-events", None).unwrap();
    let driver = TopologyTestDriver::builder(topology, StreamsConfig::new("tasklist"))
        .partitions("task-events", 3)
        .build()
        .unwrap();
    let input = driver
        .input_topic("task-events", StringSerde, JsonSerde::<TaskEvent>::new())
        .unwrap();
    for (t, e) in events.into_iter().enumerate() {
        input.pipe(e.task_id.clone(), e, t as i64).unwrap();
    }
    driver
}

#[test]
fn open_tasks_follow_assignment_completion_and_deletion() {
    use TaskEventKind::*;
    let steps = [
        event("t1", Created, Some("ann"), Some("write report")),
        event("t2", Created, Some("ann"), Some("review code")),
        event("t3", Created, Some("bob"), Some("fix bug")),
        event("t2", Assigned, Some("bob"), None),
        event("t1", Completed, Some("ann"), None),
        event("t3", Deleted, None, None),
    ];
    let driver = project(steps);
    let open = driver
        .key_value_store::<String, Vec<OpenTask>>(task_list::OPEN_TASKS)
        .unwrap();
    assert_eq!(open.get(&"ann".to_string()).unwrap(), Some(vec![]));
    assert_eq!(
        open.get(&"bob".to_string()).unwrap(),
        Some(vec![OpenTask {
            task_id: "t2".into(),
            title: "review code".into()
        }])
    );
    let completed = driver
        .key_value_store::<String, i64>(task_list::COMPLETED)
        .unwrap();
    assert_eq!(completed.get(&"ann".to_string()).unwrap(), Some(1));
    assert_eq!(completed.get(&"bob".to_string()).unwrap(), None);
}

#[test]
fn events_are_json_with_snake_case_kinds() {
    let e: TaskEvent =
        serde_json::from_str(r#"{"task_id":"t9","kind":"assigned","user":"cy"}"#).unwrap();
    assert_eq!(e, event("t9", TaskEventKind::Assigned, Some("cy"), None));
}

#[test]
fn profiles_name_each_users_tasks_and_each_tasks_assignee() {
    use task_list::{AssignedTask, UserProfile, UserTasks};
    let topology = task_list::projection("task-events", Some("users")).unwrap();
    let driver = TopologyTestDriver::builder(topology, StreamsConfig::new("tasklist"))
        .partitions("task-events", 3)
        .partitions("users", 3)
        .build()
        .unwrap();
    let events = driver
        .input_topic("task-events", StringSerde, JsonSerde::<TaskEvent>::new())
        .unwrap();
    let users = driver
        .input_topic(
            "users",
            StringSerde,
            tributary_engine::serde::nullable(JsonSerde::<UserProfile>::new()),
        )
        .unwrap();
    let profile = |name: &str, team: &str| UserProfile {
        name: name.into(),
        team: team.into(),
    };
    use TaskEventKind::*;
    users
        .pipe("ann".into(), Some(profile("Ann", "core")), 0)
        .unwrap();
    events
        .pipe(
            "t1".into(),
            event("t1", Created, Some("ann"), Some("write")),
            1,
        )
        .unwrap();
    events
        .pipe(
            "t2".into(),
            event("t2", Created, Some("bob"), Some("fix")),
            2,
        )
        .unwrap();
    let with_user = driver
        .key_value_store::<String, UserTasks>(task_list::USER_OPEN_TASKS)
        .unwrap();
    let assigned = driver
        .key_value_store::<Option<String>, AssignedTask>(task_list::TASKS_WITH_ASSIGNEE)
        .unwrap();
    let ann = with_user.get(&"ann".into()).unwrap().unwrap();
    assert_eq!(ann.user, Some(profile("Ann", "core")));
    assert_eq!(ann.open.len(), 1);
    assert_eq!(
        with_user.get(&"bob".into()).unwrap().unwrap().user,
        None,
        "no profile yet"
    );
    // Tasks are keyed by the events' (nullable) keys.
    let t2 = |assigned: &tributary_engine::driver::DriverKeyValueStore<
        Option<String>,
        AssignedTask,
    >| { assigned.get(&Some("t2".into())).unwrap().unwrap().assignee };
    assert_eq!(t2(&assigned), None);

    // A profile arriving or changing reaches every task of its user.
    users
        .pipe("bob".into(), Some(profile("Bob", "web")), 3)
        .unwrap();
    assert_eq!(t2(&assigned), Some(profile("Bob", "web")));
    users
        .pipe("bob".into(), Some(profile("Bob", "infra")), 4)
        .unwrap();
    assert_eq!(t2(&assigned), Some(profile("Bob", "infra")));
    // Reassignment moves the task to the new assignee's profile.
    events
        .pipe("t2".into(), event("t2", Assigned, Some("ann"), None), 5)
        .unwrap();
    assert_eq!(t2(&assigned), Some(profile("Ann", "core")));
    assert_eq!(
        with_user.get(&"ann".into()).unwrap().unwrap().open.len(),
        2,
        "both tasks are Ann's now"
    );
    // A deleted profile leaves the tasks without one.
    users.pipe("ann".into(), None, 6).unwrap();
    assert_eq!(t2(&assigned), None);
    assert_eq!(with_user.get(&"ann".into()).unwrap().unwrap().user, None);
}

/// The list does not depend on the order updates arrive in (which a replay over several
/// partitions does not repeat): it is in task id order.
#[test]
fn open_tasks_are_listed_by_task_id_whatever_order_they_changed_in() {
    use TaskEventKind::*;
    let steps = [
        event("t3", Created, Some("ann"), Some("third")),
        event("t1", Created, Some("ann"), Some("first")),
        event("t2", Created, Some("ann"), Some("second")),
        event("t1", Assigned, Some("ann"), None),
        event("t2", Created, Some("ann"), Some("second, renamed")),
    ];
    let driver = project(steps);
    let open = driver
        .key_value_store::<String, Vec<OpenTask>>(task_list::OPEN_TASKS)
        .unwrap();
    let listed: Vec<(String, String)> = open
        .get(&"ann".to_string())
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|t| (t.task_id, t.title))
        .collect();
    let expected = [("t1", "first"), ("t2", "second, renamed"), ("t3", "third")];
    assert_eq!(
        listed,
        expected.map(|(id, title)| (id.to_owned(), title.to_owned()))
    );
}
