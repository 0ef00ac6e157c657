//! `tributary reset`: replay an application from its inputs (Kafka's application reset
//! tool).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use tributary::engine::reset::{ResetTo, apply_reset, plan_reset};

/// Where the offsets go, as the command line says it.
pub(crate) struct Target<'a> {
    /// `--to-datetime`: an RFC 3339 time.
    pub(crate) datetime: Option<&'a str>,
    /// `--by-duration`: that long before now.
    pub(crate) duration: Option<&'a str>,
}

impl Target<'_> {
    /// The target: the earliest offsets unless a time or a duration is given.
    fn resolve(&self) -> anyhow::Result<ResetTo> {
        let millis = |t: SystemTime| -> anyhow::Result<ResetTo> {
            let since = t.duration_since(UNIX_EPOCH).context("a time before 1970")?;
            Ok(ResetTo::Time(since.as_millis() as i64))
        };
        match (self.datetime, self.duration) {
            (Some(_), Some(_)) => bail!("give --to-datetime or --by-duration, not both"),
            (Some(text), None) => {
                millis(humantime::parse_rfc3339_weak(text).with_context(|| {
                    format!("--to-datetime `{text}` is not a time like 2026-12-01T08:00:00Z")
                })?)
            }
            (None, Some(text)) => {
                let back: Duration = humantime::parse_duration(text).with_context(|| {
                    format!("--by-duration `{text}` is not a duration like 2h or 30m")
                })?;
                let at = SystemTime::now()
                    .checked_sub(back)
                    .context("--by-duration reaches before 1970")?;
                millis(at)
            }
            (None, None) => Ok(ResetTo::Earliest),
        }
    }
}

/// Plans the reset of the application in `config` over `inputs`, prints the plan, and
/// carries it out unless `dry_run`.
pub(crate) fn run(
    config: &Path,
    inputs: &[String],
    target: &Target<'_>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let config = tributary::worker::load(config)?;
    let to = target.resolve()?;
    let plan = plan_reset(&config, inputs, to)?;
    print!("{plan}");
    if dry_run {
        println!("dry run: nothing was changed");
        return Ok(());
    }
    apply_reset(&config, &plan)?;
    println!(
        "done: the next start of `{}` rebuilds its state from the inputs",
        plan.application_id
    );
    Ok(())
}
