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

#[test]
fn open_tasks_follow_assignment_completion_and_deletion() {
    let topology = task_list::projection("task-events").unwrap();
    let driver = TopologyTestDriver::builder(topology, StreamsConfig::new("tasklist"))
        .partitions("task-events", 3)
        .build()
        .unwrap();
    let input = driver
        .input_topic("task-events", StringSerde, JsonSerde::<TaskEvent>::new())
        .unwrap();
    use TaskEventKind::*;
    let steps = [
        event("t1", Created, Some("ann"), Some("write report")),
        event("t2", Created, Some("ann"), Some("review code")),
        event("t3", Created, Some("bob"), Some("fix bug")),
        event("t2", Assigned, Some("bob"), None),
        event("t1", Completed, Some("ann"), None),
        event("t3", Deleted, None, None),
    ];
    for (t, e) in steps.into_iter().enumerate() {
        input.pipe(e.task_id.clone(), e, t as i64).unwrap();
    }
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
