//! `fluvio version`: this CLI's version and the cluster's, as the SC reports it in its
//! ApiVersions answer.

use clap::Args;
use serde::Serialize;

use super::output::{Block, Output, Report, to_data};
use super::{CommandError, Context, OutputArgs};

#[derive(Debug, Args)]
pub struct VersionArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Versions {
    cli_version: &'static str,
    platform_version: Option<String>,
    sc: String,
    os: &'static str,
    arch: &'static str,
}

/// Never fails: without an SC it still reports the CLI's version, and says on stderr why
/// the platform version is missing.
pub async fn execute(args: VersionArgs, ctx: &Context) -> Result<Output, CommandError> {
    let _ = args;
    let mut notes = Vec::new();
    let platform_version = match ctx.admin().await {
        Ok(admin) => Some(admin.socket().versions().platform_version.clone()),
        Err(err) => {
            notes.push(format!("note: no platform version: {err}"));
            None
        }
    };
    let versions = Versions {
        cli_version: env!("CARGO_PKG_VERSION"),
        platform_version,
        sc: ctx.target().addr.clone(),
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    };
    let fields = vec![
        ("Fluvio CLI".to_string(), versions.cli_version.to_string()),
        (
            "Fluvio Platform".to_string(),
            versions
                .platform_version
                .clone()
                .unwrap_or_else(|| "unknown (SC not reachable)".into()),
        ),
        (
            "SC".to_string(),
            format!("{} ({})", versions.sc, ctx.target().origin),
        ),
        (
            "OS".to_string(),
            format!("{} {}", versions.os, versions.arch),
        ),
    ];
    let mut output = Output::report(Report {
        blocks: vec![Block::Fields(fields)],
        data: to_data(&versions)?,
    });
    output.notes = notes;
    Ok(output)
}
