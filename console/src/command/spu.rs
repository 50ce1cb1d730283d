//! `fluvio spu list | register | unregister`.

use clap::{ArgGroup, Args, Subcommand};
use protocol::sc::{
    CustomSpuKey, CustomSpuSpec, Endpoint, IngressPort, Metadata, SpuId, SpuSpec, SpuType,
};

use super::output::{Column, Output, Report};
use super::parse;
use super::{CommandError, Context, OutputArgs};

#[derive(Debug, Subcommand)]
pub enum SpuCmd {
    /// List SPUs, managed and custom.
    List(ListArgs),
    /// Register a custom SPU (one run elsewhere with `fluvio-daemon spu`).
    Register(RegisterArgs),
    /// Unregister a custom SPU; the SC refuses it from then on.
    Unregister(UnregisterArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only custom SPUs (those registered with `spu register`), as Fluvio's flag.
    #[arg(long)]
    pub custom: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The SPU's id.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    pub id: SpuId,
    /// Where clients reach the SPU.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse::host_port)]
    pub public_server: (String, u16),
    /// Where other SPUs reach it for replication.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse::host_port)]
    pub private_server: (String, u16),
    /// Its name; `custom-spu-<id>` if not given.
    #[arg(long)]
    pub name: Option<String>,
    /// Its rack, for rack-aware replica placement.
    #[arg(long)]
    pub rack: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["id", "name"])))]
pub struct UnregisterArgs {
    /// The SPU's id.
    #[arg(long)]
    pub id: Option<SpuId>,
    /// The SPU's name.
    #[arg(long)]
    pub name: Option<String>,
}

impl SpuCmd {
    pub fn output(&self) -> Option<OutputArgs> {
        match self {
            SpuCmd::List(args) => Some(args.output),
            SpuCmd::Register(_) | SpuCmd::Unregister(_) => None,
        }
    }
}

pub async fn execute(cmd: SpuCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        SpuCmd::List(args) => list(args, ctx).await,
        SpuCmd::Register(args) => register(args, ctx).await,
        SpuCmd::Unregister(args) => unregister(args, ctx).await,
    }
}

type Spu = Metadata<SpuSpec>;

/// The columns of `spu list`, shared with the TUI.
pub const COLUMNS: &[Column<Spu>] = protocol::sc::table::spu::LIST;

async fn list(args: ListArgs, ctx: &Context) -> Result<Output, CommandError> {
    let mut spus = ctx.admin().await?.list::<SpuSpec>(&[]).await?;
    if args.custom {
        spus.retain(|s| s.spec.spu_type == SpuType::Custom);
    }
    spus.sort_by_key(|s| s.spec.id);
    let empty = if args.custom {
        "No custom SPUs found"
    } else {
        "No SPUs found"
    };
    Ok(Output::report(Report::listing(
        COLUMNS, &spus, &spus, empty,
    )?))
}

async fn register(args: RegisterArgs, ctx: &Context) -> Result<Output, CommandError> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("custom-spu-{}", args.id));
    let (public_host, public_port) = &args.public_server;
    let (private_host, private_port) = &args.private_server;
    let spec = CustomSpuSpec {
        id: args.id,
        public_endpoint: IngressPort::from_host_port(public_host, *public_port),
        private_endpoint: Endpoint::from_host_port(private_host, *private_port),
        rack: args.rack,
        public_endpoint_local: None,
    };
    ctx.admin()
        .await?
        .create::<CustomSpuSpec>(&name, spec, false)
        .await?;
    Ok(
        Output::message(format!("custom SPU \"{name}\" (id {}) registered", args.id)).with_note(
            start_hint(args.id, &args.public_server, &args.private_server),
        ),
    )
}

/// How to start the SPU just registered. The client knows neither the SC's private address
/// nor the token the SPU will present, so both are named with where to find them.
fn start_hint(id: SpuId, public: &(String, u16), private: &(String, u16)) -> String {
    format!(
        "note: start it with: fluvio-daemon spu --id {id} --public-addr {}:{} --private-addr {}:{} \
         --sc-private-addr SC_PRIVATE_ADDR --token-name NAME --token-secret-file FILE\n\
         SC_PRIVATE_ADDR is where the SC listens for SPUs (its --private-addr, 127.0.0.1:9004 by \
         default). The token comes from `fluvio auth-token create --token-name NAME --min-spu {id} \
         --max-spu {id} --generate-secret`, its secret saved in FILE; an SC started with \
         --allow-unauthenticated-spus needs no token.",
        public.0, public.1, private.0, private.1
    )
}

async fn unregister(args: UnregisterArgs, ctx: &Context) -> Result<Output, CommandError> {
    let (key, what) = match (args.id, args.name) {
        (Some(id), _) => (CustomSpuKey::Id(id), format!("{id}")),
        (None, Some(name)) => (CustomSpuKey::Name(name.clone()), format!("\"{name}\"")),
        (None, None) => {
            return Err(CommandError::MissingArgument {
                what: "--id or --name",
            });
        }
    };
    ctx.admin()
        .await?
        .delete::<CustomSpuSpec>(key, &what)
        .await?;
    Ok(Output::message(format!("custom SPU {what} unregistered")))
}
