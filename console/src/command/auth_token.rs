//! `fluvio auth-token create | list | delete`: the tokens SPUs present to join the cluster.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use protocol::sc::{AuthTokenCreate, AuthTokenSpec, Metadata, SpuId, TokenType};

use super::output::{Body, Column, Output, Report};
use super::parse;
use super::{CommandError, Context, OutputArgs};

#[derive(Debug, Subcommand)]
pub enum AuthTokenCmd {
    /// Create a token; its secret is shown once.
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List(ListArgs),
    /// Delete a token; SPUs that use it can no longer register.
    Delete(DeleteArgs),
}

/// Which SPUs a token admits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum TokenKind {
    #[default]
    Any,
    Custom,
    Managed,
}

impl From<TokenKind> for TokenType {
    fn from(kind: TokenKind) -> Self {
        match kind {
            TokenKind::Any => TokenType::Any,
            TokenKind::Custom => TokenType::Custom,
            TokenKind::Managed => TokenType::Managed,
        }
    }
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("secret_source").required(true).args(["secret", "secret_file", "generate_secret"])))]
pub struct CreateArgs {
    /// The token's name.
    #[arg(short = 'n', long = "token-name", visible_alias = "name")]
    pub name: String,
    /// The secret: exactly 16 characters from [a-z0-9]. It shows in `ps` and the shell's
    /// history: prefer --secret-file.
    #[arg(short = 's', long, value_parser = parse::secret)]
    pub secret: Option<String>,
    /// Read the secret from FILE (`-`: from standard input); a trailing newline is
    /// ignored.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<std::path::PathBuf>,
    /// Generate a random secret.
    #[arg(short = 'g', long)]
    pub generate_secret: bool,
    /// The lowest SPU id the token admits.
    #[arg(short = 'm', long, value_name = "ID")]
    pub min_spu: SpuId,
    /// The highest SPU id the token admits.
    #[arg(short = 'x', long, value_name = "ID")]
    pub max_spu: SpuId,
    /// The kind of SPU the token admits.
    #[arg(short = 't', long, value_enum, default_value_t, ignore_case = true)]
    pub token_type: TokenKind,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only these tokens.
    #[arg(short = 'n', long = "token-name", visible_alias = "name")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The token's name.
    #[arg(short = 'n', long = "token-name", visible_alias = "name")]
    pub name: String,
}

impl AuthTokenCmd {
    pub fn output(&self) -> Option<OutputArgs> {
        match self {
            AuthTokenCmd::List(args) => Some(args.output),
            AuthTokenCmd::Create(_) | AuthTokenCmd::Delete(_) => None,
        }
    }
}

pub async fn execute(cmd: AuthTokenCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        AuthTokenCmd::Create(args) => create(args, ctx).await,
        AuthTokenCmd::List(args) => list(args, ctx).await,
        AuthTokenCmd::Delete(args) => delete(args, ctx).await,
    }
}

/// Read a secret from `path` (`-`: standard input) and check it.
fn read_secret(path: &std::path::Path) -> Result<String, CommandError> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
            CommandError::ReadFile {
                path: path.to_path_buf(),
                source,
            }
        })?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|source| CommandError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?
    };
    let secret = text.trim_end_matches(['\n', '\r']);
    parse::secret(secret).map_err(|problem| CommandError::SecretFile {
        path: path.to_path_buf(),
        problem,
    })
}

async fn create(args: CreateArgs, ctx: &Context) -> Result<Output, CommandError> {
    let mut notes = Vec::new();
    let secret = match (args.secret, &args.secret_file) {
        (Some(secret), _) => {
            notes.push(
                "warning: a secret given with --secret shows in `ps` to every user of this machine and stays in the shell's history; use --secret-file FILE, or --secret-file - to read it from standard input".to_string(),
            );
            secret
        }
        (None, Some(path)) => read_secret(path)?,
        (None, None) => {
            parse::generate_secret().map_err(|e| CommandError::Random(e.to_string()))?
        }
    };
    let create = AuthTokenCreate {
        spec: AuthTokenSpec {
            token_type: args.token_type.into(),
            min_spu: args.min_spu,
            max_spu: args.max_spu,
        },
        secret: secret.clone(),
    };
    ctx.admin()
        .await?
        .create::<AuthTokenSpec>(&args.name, create, false)
        .await?;
    Ok(Output {
        body: Body::Message(format!(
            "auth token \"{}\" created\nsecret: {secret}",
            args.name
        )),
        notes: {
            notes.push("warning: the secret will not be shown again; store it now (SPUs read it from --token-secret-file)".into());
            notes
        },
        failures: Vec::new(),
    })
}

type Token = Metadata<AuthTokenSpec>;

/// The columns of `auth-token list`, shared with the TUI and the metadata dump.
pub const COLUMNS: &[Column<Token>] = protocol::sc::table::token::LIST;

async fn list(args: ListArgs, ctx: &Context) -> Result<Output, CommandError> {
    let mut tokens = ctx
        .admin()
        .await?
        .list::<AuthTokenSpec>(&args.names)
        .await?;
    // The SC's filter matches substrings; -n names tokens exactly.
    tokens.retain(|t| args.names.is_empty() || args.names.contains(&t.name));
    tokens.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Output::report(Report::listing(
        COLUMNS,
        &tokens,
        &tokens,
        "No auth tokens found",
    )?))
}

async fn delete(args: DeleteArgs, ctx: &Context) -> Result<Output, CommandError> {
    ctx.admin()
        .await?
        .delete::<AuthTokenSpec>(args.name.clone(), &args.name)
        .await?;
    Ok(Output::message(format!(
        "auth token \"{}\" deleted",
        args.name
    )))
}
