//! `tokenmeter-gateway`: serve (the default), or print a signed voucher token.

use clap::{Parser, Subcommand};
use sp_core::{crypto::Ss58Codec, Pair, H256};
use sp_runtime::{AccountId32, MultiSignature};
use tokenmeter_gateway::{chain::Node, config::ServeArgs, payment};
use tokenmeter_primitives::{SignedVoucher, Voucher};

/// Tokenmeter's inference gateway: an OpenAI-compatible API in front of a provider's model
/// server, paid with Tokenmeter vouchers and settled on chain by the provider's operator node.
///
/// Run it next to the model server and point the operator node's `--usage-feed` at it:
///
///   tokenmeter-gateway --upstream http://127.0.0.1:8080/v1 --provider <SS58> --model 0=llama
///
/// On --listen it serves `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
/// `/v1/responses`, `GET /v1/models`, `/health` and `/ready`; on --operator-listen (loopback by
/// default) `GET /usage` (the usage feed), `/admin/users/<SS58>`, `/metrics`, `/health` and
/// `/ready`.
#[derive(Debug, Parser)]
#[command(name = "tokenmeter-gateway", version)]
struct Cli {
	#[command(subcommand)]
	command: Option<Command>,
	#[command(flatten)]
	serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
	/// Print a signed voucher token (for `PAYMENT-SIGNATURE`, or as the Bearer key of an
	/// OpenAI client).
	Voucher(VoucherArgs),
}

#[derive(Debug, clap::Args)]
struct VoucherArgs {
	/// The signer's secret URI (e.g. `//Bob`, or a mnemonic); sr25519.
	#[arg(long)]
	suri: String,
	/// The provider (SS58) the voucher pays.
	#[arg(long)]
	provider: String,
	/// The cumulative cap, in the smallest unit (10⁻¹² TMT).
	#[arg(long)]
	cap: u128,
	/// The last block it may be settled in.
	#[arg(long)]
	expiry: u32,
	/// The user whose ledger it counts against (SS58); the signer's account by default (an
	/// agent's controller names the agent here).
	#[arg(long)]
	user: Option<String>,
	/// Whose credits pay (SS58); the user by default.
	#[arg(long)]
	payer: Option<String>,
	/// The chain's genesis hash (0x…); read from `--node` when absent.
	#[arg(long)]
	genesis: Option<String>,
	/// The node to read the genesis hash from.
	#[arg(long, default_value = "http://127.0.0.1:9944")]
	node: String,
	/// The session secret (0x and 64 hex digits) the token proves; a fresh random one when
	/// absent. Use one secret per provider: a gateway sees the secret it is shown.
	#[arg(long)]
	secret: Option<String>,
}

fn account(s: &str, what: &str) -> Result<AccountId32, String> {
	AccountId32::from_ss58check(s).map_err(|_| format!("--{what} `{s}` is not an SS58 address"))
}

async fn voucher(args: VoucherArgs) -> Result<String, String> {
	let pair = sp_core::sr25519::Pair::from_string(&args.suri, None)
		.map_err(|e| format!("--suri: {e:?}"))?;
	let signer = AccountId32::from(pair.public());
	let user = args.user.as_deref().map(|u| account(u, "user")).transpose()?.unwrap_or(signer);
	let payer =
		args.payer.as_deref().map(|p| account(p, "payer")).transpose()?.unwrap_or(user.clone());
	let genesis = match args.genesis {
		Some(hex) => payment::hex_decode(&hex)
			.filter(|bytes| bytes.len() == 32)
			.map(|bytes| H256::from_slice(&bytes))
			.ok_or("--genesis must be 32 bytes of hex")?,
		None => Node::new(&args.node).genesis().await.map_err(|e| e.to_string())?,
	};
	let secret: [u8; 32] = match args.secret {
		Some(hex) => payment::hex_decode(&hex)
			.and_then(|bytes| bytes.try_into().ok())
			.ok_or("--secret must be 32 bytes of hex")?,
		// A fresh seed from the operating system's generator (what key generation uses).
		None => sp_core::sr25519::Pair::generate().1,
	};
	let voucher = Voucher {
		genesis_hash: genesis,
		provider: account(&args.provider, "provider")?,
		user,
		payer,
		cap: args.cap,
		expiry: args.expiry,
		session: Some(tokenmeter_primitives::session_commitment(&secret)),
	};
	let signature = MultiSignature::from(pair.sign(&voucher.signing_payload()));
	Ok(payment::encode_payment(&SignedVoucher { voucher, signature }, &secret))
}

/// The allocator (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
	let cli = Cli::parse();
	let threads = match &cli.command {
		Some(Command::Voucher(_)) => Some(1),
		None => cli.serve.settings().ok().and_then(|s| s.threads),
	};
	let mut runtime = tokio::runtime::Builder::new_multi_thread();
	if let Some(threads) = threads {
		runtime.worker_threads(threads);
	}
	match runtime.enable_all().build() {
		Ok(runtime) => runtime.block_on(run(cli)),
		Err(e) => {
			eprintln!("error: cannot start the runtime: {e}");
			std::process::exit(1);
		}
	}
}

async fn run(cli: Cli) {
	if let Some(Command::Voucher(args)) = cli.command {
		match voucher(args).await {
			Ok(token) => println!("{token}"),
			Err(e) => {
				eprintln!("error: {e}");
				std::process::exit(2);
			}
		}
		return;
	}
	let settings = match cli.serve.settings() {
		Ok(settings) => settings,
		Err(e) => {
			eprintln!("error: {e}");
			std::process::exit(2);
		}
	};
	let filter = tracing_subscriber::EnvFilter::try_from_default_env()
		.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
	if settings.log_json {
		tracing_subscriber::fmt().json().with_env_filter(filter).init();
	} else {
		tracing_subscriber::fmt().with_env_filter(filter).init();
	}
	// SIGTERM (systemd, Docker, Kubernetes) and SIGINT (Ctrl-C) both drain.
	let shutdown = async {
		#[cfg(unix)]
		{
			use tokio::signal::unix::{signal, SignalKind};
			match signal(SignalKind::terminate()) {
				Ok(mut term) => {
					tokio::select! {
						_ = term.recv() => {}
						_ = tokio::signal::ctrl_c() => {}
					}
				}
				Err(_) => {
					let _ = tokio::signal::ctrl_c().await;
				}
			}
		}
		#[cfg(not(unix))]
		{
			let _ = tokio::signal::ctrl_c().await;
		}
	};
	if let Err(e) = tokenmeter_gateway::run(settings, shutdown).await {
		tracing::error!("{e}");
		eprintln!("error: {e}");
		std::process::exit(1);
	}
}
