//! A worker's settings: a TOML file of Kafka Streams settings, then environment
//! overrides, into [`StreamsConfig`]; plus the application's own settings.
//!
//! ```toml
//! "application.id" = "tasklist"
//! "bootstrap.servers" = "localhost:9092"
//! "num.stream.threads" = 2
//! [consumer]
//! "session.timeout.ms" = 6000
//! [app]
//! input = "task-events"
//! ```
//!
//! Nested tables join their keys with dots (`[consumer]` above gives
//! `consumer.session.timeout.ms`). A setting `a.b.c` is overridden by the environment
//! variable `TRIBUTARY_A_B_C`. Unknown keys are refused, naming the key — except under
//! `[app]`, which holds the application's own settings (topic names, say): read them with
//! [`Settings::app`]; `app.input` is overridden by `TRIBUTARY_APP_INPUT`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::StreamsConfig;

/// The table of the application's own settings.
const APP: &str = "app";

/// A worker's settings: the engine's configuration and the application's own settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Kafka Streams' settings.
    pub streams: StreamsConfig,
    app: BTreeMap<String, String>,
    source: String,
}

impl Settings {
    /// The application's setting `key` (under `[app]`), `None` when it is not set.
    pub fn app(&self, key: &str) -> Option<&str> {
        self.app.get(key).map(String::as_str)
    }

    /// The application's setting `key` (under `[app]`).
    ///
    /// # Errors
    /// When it is not set: the error says where to set it.
    pub fn require(&self, key: &str) -> anyhow::Result<&str> {
        self.app(key).with_context(|| {
            let var = env_var(&format!("{APP}.{key}"));
            format!(
                "the application needs the setting `{key}`: add it under [{APP}] in {} or set {var}",
                self.source
            )
        })
    }
}

/// The environment variable overriding setting `key`.
fn env_var(key: &str) -> String {
    format!("TRIBUTARY_{}", key.to_uppercase().replace(['.', '-'], "_"))
}

/// Reads `path`, applies environment overrides, and builds the configuration.
///
/// # Errors
/// When the file cannot be read or parsed, or a setting is unknown or invalid.
pub fn load(path: &Path) -> anyhow::Result<StreamsConfig> {
    Ok(load_settings(path)?.streams)
}

/// Reads `path` with the application's own settings, applies environment overrides, and
/// builds the settings.
///
/// # Errors
/// When the file cannot be read or parsed, or a setting is unknown or invalid.
pub fn load_settings(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration `{}`", path.display()))?;
    let mut table: toml::Table = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML", path.display()))?;
    let mut app = Vec::new();
    match table.remove(APP) {
        Some(toml::Value::Table(inner)) => flatten("", &inner, &mut app)?,
        Some(other) => bail!(
            "`{APP}` in `{}` is a {}; it must be a table ([{APP}]) of the application's settings",
            path.display(),
            other.type_str()
        ),
        None => {}
    }
    let mut app: BTreeMap<String, String> = app.into_iter().collect();
    for (key, value) in std::env::vars() {
        let Some(name) = key.strip_prefix("TRIBUTARY_APP_") else {
            continue;
        };
        // An override of a setting in the file keeps the file's spelling of its key.
        let known = app
            .keys()
            .find(|k| env_var(&format!("{APP}.{k}")) == key)
            .cloned();
        app.insert(known.unwrap_or_else(|| name.to_lowercase()), value);
    }
    let mut settings = Vec::new();
    flatten("", &table, &mut settings)?;
    for key in StreamsConfig::KEYS {
        if let Ok(value) = std::env::var(env_var(key)) {
            settings.retain(|(k, _)| k != key);
            settings.push(((*key).to_owned(), value));
        }
    }
    let streams =
        StreamsConfig::from_settings(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .with_context(|| format!("in the configuration `{}`", path.display()))?;
    Ok(Settings {
        streams,
        app,
        source: format!("`{}`", path.display()),
    })
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let value = match value {
            toml::Value::Table(inner) => {
                flatten(&key, inner, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "setting `{key}` has a {} value; use a string, number or boolean",
                other.type_str()
            ),
        };
        out.push((key, value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_application_s_own_settings_live_under_app() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.toml");
        std::fs::write(
            &path,
            "\"application.id\" = \"app\"\n[app]\ninput = \"refunds\"\nwindow-minutes = 60\n",
        )
        .unwrap();
        let settings = load_settings(&path).unwrap();
        assert_eq!(settings.app("input"), Some("refunds"));
        assert_eq!(settings.app("window-minutes"), Some("60"));
        let err = settings.require("output").unwrap_err().to_string();
        assert!(
            err.contains("`output`")
                && err.contains("[app]")
                && err.contains("TRIBUTARY_APP_OUTPUT"),
            "{err}"
        );
        std::fs::write(&path, "\"application.id\" = \"app\"\napp = 3\n").unwrap();
        let err = format!("{:#}", load_settings(&path).unwrap_err());
        assert!(err.contains("must be a table"), "{err}");
    }

    #[test]
    fn nested_tables_become_dotted_keys_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.toml");
        std::fs::write(&path, "\"application.id\" = \"app\"\n\"num.stream.threads\" = 3\n[consumer]\n\"session.timeout.ms\" = 6000\n").unwrap();
        let config = load(&path).unwrap();
        assert_eq!(config.num_stream_threads, 3);
        assert_eq!(
            config
                .consumer
                .get("session.timeout.ms")
                .map(String::as_str),
            Some("6000")
        );

        std::fs::write(
            &path,
            "\"application.id\" = \"app\"\n\"comit.interval.ms\" = 5\n",
        )
        .unwrap();
        let err = format!("{:#}", load(&path).unwrap_err());
        assert!(
            err.contains("`comit.interval.ms`") && err.contains("unknown setting"),
            "{err}"
        );
    }
}
