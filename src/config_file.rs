//! The CLI's configuration: a TOML file of Kafka Streams settings, then environment
//! overrides, into the library's [`StreamsConfig`].
//!
//! ```toml
//! "application.id" = "tasklist"
//! "bootstrap.servers" = "localhost:9092"
//! "num.stream.threads" = 2
//! [consumer]
//! "session.timeout.ms" = 6000
//! ```
//!
//! Nested tables join their keys with dots (`[consumer]` above gives
//! `consumer.session.timeout.ms`). A setting `a.b.c` is overridden by the environment
//! variable `TRIBUTARY_A_B_C`. Unknown keys are refused, naming the key.

use std::path::Path;

use anyhow::{Context, bail};
use tributary::StreamsConfig;

/// Reads `path`, applies environment overrides, and builds the configuration.
pub fn load(path: &Path) -> anyhow::Result<StreamsConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration `{}`", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML", path.display()))?;
    let mut settings = Vec::new();
    flatten("", &table, &mut settings)?;
    for key in StreamsConfig::KEYS {
        let var = format!("TRIBUTARY_{}", key.to_uppercase().replace('.', "_"));
        if let Ok(value) = std::env::var(&var) {
            settings.retain(|(k, _)| k != key);
            settings.push(((*key).to_owned(), value));
        }
    }
    StreamsConfig::from_settings(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .with_context(|| format!("in the configuration `{}`", path.display()))
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
