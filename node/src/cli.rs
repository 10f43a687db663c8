//! Command-line interface of the node.

use sc_cli::RunCmd;

/// The node's command line: the subcommands, or the flags of a running node.
#[derive(Debug, clap::Parser)]
pub struct Cli {
	/// A subcommand; without one, the node runs.
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	/// The flags of a running node (`--dev`, `--chain`, `--validator`, ...).
	#[clap(flatten)]
	pub run: RunCmd,

	/// Inference operators: the base URL of the provider's usage feed. The off-chain worker
	/// fetches `<URL>/usage?after=<last attested seq>` and attests what it serves, signed by
	/// the operator key (key type `tmat`) in the keystore. Kept in the node's off-chain
	/// storage, so later runs without the flag keep using it: a node that starts with a
	/// stored feed and an operator key in its keystore runs the worker on every block. Implies
	/// `--offchain-worker always`.
	#[arg(long, value_name = "URL", value_parser = parse_feed_url)]
	pub usage_feed: Option<String>,
}

/// A feed URL: `http://` or `https://`.
fn parse_feed_url(url: &str) -> Result<String, String> {
	if url.starts_with("http://") || url.starts_with("https://") {
		Ok(url.trim_end_matches('/').to_string())
	} else {
		Err(format!("`{url}` is not an http:// or https:// URL"))
	}
}

/// The node's subcommands.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management: generate, inspect and insert keys.
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Build a chain specification.
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Export the chain specification.
	ExportChainSpec(sc_cli::ExportChainSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Remove the whole chain.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Db meta columns information.
	ChainInfo(sc_cli::ChainInfoCmd),
}
