//! `fluvio profile [current | list | switch | add | delete | rename]`: the profiles of
//! the official client's config file, with Fluvio's arguments. Without a subcommand it
//! shows the current profile, as Fluvio does. The file is edited in place (see
//! [`crate::profiles`]), so comments and unknown keys survive.

use clap::{Args, Subcommand, ValueEnum};

use super::output::{Column, Output, Report};
use super::{CommandError, Context, OutputArgs};
use crate::profiles::{ProfileFile, ProfileRow};

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub cmd: Option<ProfileCmd>,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Print the name of the current profile.
    Current,
    /// List the profiles with their clusters' addresses.
    List(ListArgs),
    /// Make a profile the current one.
    Switch {
        #[arg(value_name = "PROFILE")]
        name: String,
    },
    /// Add (or update) a profile and its cluster, and make it current.
    Add(AddArgs),
    /// Delete a profile (its cluster entry stays); deleting the current one leaves none
    /// current, with a warning.
    Delete {
        #[arg(value_name = "PROFILE")]
        name: String,
    },
    /// Rename a profile; the current profile follows.
    Rename {
        /// The profile to rename.
        from: String,
        /// Its new name.
        to: String,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Name of the profile (and of its cluster entry).
    pub profile_name: String,
    /// The SC's public address, e.g. 127.0.0.1:9003.
    #[arg(value_parser = super::parse::host_port_text)]
    pub cluster_address: String,
    /// How the cluster was installed, recorded for Fluvio's tools.
    #[arg(value_enum)]
    pub installation_type: Option<Installation>,
    /// The `--tls*` flags of the command line (they are global), written into the
    /// cluster's `tls` table; `command::parse` puts them here.
    #[arg(skip)]
    pub tls: super::TlsArgs,
}

/// Fluvio's installation types, stored as its CLI stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Installation {
    K8,
    Local,
    #[value(alias = "local_k8")]
    LocalK8,
    #[value(alias = "read_only")]
    ReadOnly,
    Docker,
    Cloud,
}

impl Installation {
    /// The spelling in the file (serde's snake case of Fluvio's enum).
    fn stored(self) -> &'static str {
        match self {
            Installation::K8 => "k8",
            Installation::Local => "local",
            Installation::LocalK8 => "local_k8",
            Installation::ReadOnly => "read_only",
            Installation::Docker => "docker",
            Installation::Cloud => "cloud",
        }
    }
}

impl ProfileArgs {
    pub fn output(&self) -> Option<OutputArgs> {
        match &self.cmd {
            Some(ProfileCmd::List(args)) => Some(args.output),
            _ => None,
        }
    }
}

const COLUMNS: &[Column<ProfileRow>] = &[
    Column::new("CURRENT", |r| if r.current { "*" } else { "" }.into()),
    Column::new("PROFILE", |r| r.profile.clone()),
    Column::new("CLUSTER", |r| r.cluster.clone()),
    Column::new("ADDRESS", |r| r.address.clone()),
    Column::new("TLS", |r| r.tls.clone()),
    Column::new("INSTALLATION", |r| r.installation.clone()),
];

pub fn execute(args: ProfileArgs, ctx: &Context) -> Result<Output, CommandError> {
    let path = ctx.config_path();
    match args.cmd.unwrap_or(ProfileCmd::Current) {
        ProfileCmd::Current => {
            let file = ProfileFile::open(path)?;
            match file.current() {
                Some(name) => Ok(Output::message(name)),
                None => Err(CommandError::NoCurrentProfile {
                    path: path.to_path_buf(),
                }),
            }
        }
        ProfileCmd::List(_) => {
            let file = ProfileFile::open(path)?;
            let rows = file.rows();
            let mut report = Report::listing(COLUMNS, &rows, &(), "No profiles found")?;
            report.data = file.data();
            Ok(Output::report(report))
        }
        ProfileCmd::Switch { name } => {
            let mut file = ProfileFile::open(path)?;
            file.switch(&name)?;
            file.save()?;
            Ok(Output::message(format!("switched to profile \"{name}\"")))
        }
        ProfileCmd::Add(add) => {
            let tls = add.tls.settings()?.unwrap_or_default();
            let mut file = ProfileFile::open_or_new(path)?;
            file.add(
                &add.profile_name,
                &add.cluster_address,
                add.installation_type.map(Installation::stored),
                &tls,
            )?;
            file.save()?;
            let security = match &tls {
                crate::config::TlsSettings::Disabled => "",
                crate::config::TlsSettings::Anonymous => " over TLS (anonymous)",
                crate::config::TlsSettings::Verified { .. } => " over TLS (verified)",
            };
            Ok(Output::message(format!(
                "profile \"{}\" added for the SC at {}{security}; switched to it",
                add.profile_name, add.cluster_address
            )))
        }
        ProfileCmd::Delete { name } => {
            let mut file = ProfileFile::open(path)?;
            let was_current = file.delete(&name)?;
            file.save()?;
            let output = Output::message(format!("profile \"{name}\" deleted"));
            Ok(if was_current {
                output.with_note(
                    "warning: this removed your current profile, use 'fluvio profile switch' to select a different one",
                )
            } else {
                output
            })
        }
        ProfileCmd::Rename { from, to } => {
            let mut file = ProfileFile::open(path)?;
            file.rename(&from, &to)?;
            file.save()?;
            Ok(Output::message(format!(
                "profile \"{from}\" renamed to \"{to}\""
            )))
        }
    }
}
