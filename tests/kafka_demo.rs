//! The main job, `tributary demo`, on the broker as a newcomer runs it (with fewer users
//! and events, for time): the projection starts, answers its own query for user-7's open
//! tasks with a non-empty list (the generator keeps a backlog of open tasks per user), and
//! closes cleanly when the run ends.

mod support;

use std::process::Command;

#[test]
fn the_demo_answers_with_open_tasks_and_closes_cleanly() {
    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args([
            "demo",
            "--bootstrap-servers",
            &support::bootstrap(),
            "--users",
            "50",
            "--rate",
            "500",
            "--seconds",
            "15",
            "--threads",
            "1",
            "--partitions",
            "2",
            "--server",
            "127.0.0.1:0",
        ])
        .output()
        .expect("the tributary binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the demo fails:\n{stdout}\n{stderr}"
    );
    // The demo asks until the projection answers (a 404 while user-7 has no list yet).
    let answered = stdout
        .lines()
        .any(|l| l.starts_with("  -> {") && l.contains("\"task_id\":\"task-"));
    assert!(
        answered,
        "user-7 has open tasks when the demo asks:\n{stdout}"
    );
    assert!(
        stdout.contains("projection closed: NotRunning"),
        "the projection closes cleanly:\n{stdout}"
    );
}
