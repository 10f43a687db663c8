//! Configuration: command-line flags, optionally a TOML file (`--config`) with the same keys
//! (in snake case); a flag given on the command line wins over the file.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use serde::Deserialize;

/// The flags of `tokenmeter-gateway` (serving).
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
	/// A TOML file with any of these settings (keys in snake case, e.g. `upstream =
	/// "http://127.0.0.1:8080/v1"`, `models = ["0=llama3.1:8b"]`). Flags win over it.
	#[arg(long, value_name = "FILE")]
	#[serde(skip)]
	pub config: Option<PathBuf>,

	/// Address to serve the OpenAI-compatible API, the usage feed and metrics on.
	/// [default: 127.0.0.1:8787]
	#[arg(long, value_name = "ADDR")]
	pub listen: Option<SocketAddr>,

	/// Base URL of the OpenAI-compatible model server, including its `/v1` (llama-server:
	/// `http://127.0.0.1:8080/v1`, vLLM: `http://127.0.0.1:8000/v1`, Ollama:
	/// `http://127.0.0.1:11434/v1`). Plain HTTP: run the gateway next to the model server.
	#[arg(long, value_name = "URL")]
	pub upstream: Option<String>,

	/// HTTP JSON-RPC URL of a Tokenmeter node (the operator node works).
	/// [default: http://127.0.0.1:9944]
	#[arg(long, value_name = "URL")]
	pub node: Option<String>,

	/// The provider account (SS58) this gateway serves and is paid for.
	#[arg(long, value_name = "SS58")]
	pub provider: Option<String>,

	/// Maps an on-chain model id to the model name the upstream knows, e.g. `0=llama3.1:8b`;
	/// repeat for several. Models without a mapping are asked for by their on-chain name.
	#[arg(long = "model", value_name = "ID=NAME")]
	#[serde(default)]
	pub models: Vec<String>,

	/// Directory of the gateway's database (`usage.db`, SQLite).
	/// [default: ./tokenmeter-gateway-data]
	#[arg(long, value_name = "DIR")]
	pub data_dir: Option<PathBuf>,

	/// The database, instead of the embedded SQLite in `--data-dir`: `postgres://user:password@host:port/db`
	/// for a fleet of gateways sharing one set of books, reservations and one usage feed (run
	/// every instance with the same `--provider` and `--database`, and a distinct
	/// `--instance`). A `sqlite://<path>?mode=rwc` URL works too.
	#[arg(long, value_name = "URL", env = "TOKENMETER_GATEWAY_DATABASE")]
	pub database: Option<String>,

	/// This instance's name among those sharing `--database`: at start it drops the
	/// reservations its previous run left. [default: the --listen address]
	#[arg(long, value_name = "NAME")]
	pub instance: Option<String>,

	/// Output tokens reserved for a request that sets no `max_tokens`. [default: 1024]
	#[arg(long, value_name = "TOKENS")]
	pub default_max_tokens: Option<u32>,

	/// Largest request body accepted, in bytes. [default: 1048576]
	#[arg(long, value_name = "BYTES")]
	pub max_body_bytes: Option<usize>,

	/// Blocks a voucher must stay valid past the best block to be accepted, so that it can
	/// still be settled. [default: 100]
	#[arg(long, value_name = "BLOCKS")]
	pub min_voucher_blocks: Option<u32>,

	/// How often to look for a new block, in milliseconds. [default: 1000]
	#[arg(long, value_name = "MS")]
	pub poll_ms: Option<u64>,

	/// Seconds the gateway keeps serving from its cached chain state while the node does not
	/// answer; after that it answers 503. [default: 60]
	#[arg(long, value_name = "SECS")]
	pub stale_after_secs: Option<u64>,

	/// Seconds to wait for the upstream's answer. [default: 600]
	#[arg(long, value_name = "SECS")]
	pub upstream_timeout_secs: Option<u64>,

	/// Requests with the upstream at once; the rest wait in a queue ordered by the users'
	/// priority weights (weighted fair queueing). [default: 64]
	#[arg(long, value_name = "N")]
	pub max_in_flight: Option<usize>,
	/// Requests that may wait for the upstream; beyond it they are refused with 503.
	/// [default: 4096]
	#[arg(long, value_name = "N")]
	pub max_queue: Option<usize>,
	/// Seconds a request may wait for the upstream before it is refused with 503 and
	/// `Retry-After`. [default: 30]
	#[arg(long, value_name = "SECS")]
	pub queue_timeout_secs: Option<u64>,
	/// Tokens per minute a user may use per request per minute of its tier's rate limit
	/// (the chain's `rate_limit` is in requests per minute). [default: 4096]
	#[arg(long, value_name = "TOKENS")]
	pub tokens_per_request: Option<u64>,
	/// Passes the user's priority to the upstream as vLLM's `priority` field (lower is
	/// served first: minus the priority weight), for vLLM's `--scheduling-policy priority`.
	#[arg(long)]
	#[serde(default)]
	pub upstream_priority: bool,
	/// Serves every user without its tier's rate limit (priority by stake still applies): for
	/// a provider that limits elsewhere, and for benchmarks.
	#[arg(long)]
	#[serde(default)]
	pub no_rate_limits: bool,
	/// Logs as JSON lines instead of text.
	#[arg(long)]
	#[serde(default)]
	pub log_json: bool,
	/// The embedded database waits for the disk at every commit (SQLite `synchronous = FULL`),
	/// so that not even a power cut loses a charge; it costs a disk sync per answer (or group of
	/// answers). By default every charge is committed before its answer is sent and survives a
	/// crash of the gateway, and the disk is synced beside it: a power cut can undo the last
	/// charges, the provider's loss only.
	#[arg(long)]
	#[serde(default)]
	pub sync_every_commit: bool,
}

/// The settings in effect.
#[derive(Debug, Clone)]
pub struct Settings {
	/// See [`ServeArgs::listen`].
	pub listen: SocketAddr,
	/// See [`ServeArgs::upstream`].
	pub upstream: String,
	/// See [`ServeArgs::node`].
	pub node: String,
	/// See [`ServeArgs::provider`].
	pub provider: String,
	/// On-chain model id → upstream model name.
	pub models: HashMap<u32, String>,
	/// See [`ServeArgs::data_dir`].
	pub data_dir: PathBuf,
	/// See [`ServeArgs::database`].
	pub database: Option<String>,
	/// See [`ServeArgs::instance`].
	pub instance: String,
	/// See [`ServeArgs::default_max_tokens`].
	pub default_max_tokens: u32,
	/// See [`ServeArgs::max_body_bytes`].
	pub max_body_bytes: usize,
	/// See [`ServeArgs::min_voucher_blocks`].
	pub min_voucher_blocks: u32,
	/// See [`ServeArgs::poll_ms`].
	pub poll: Duration,
	/// See [`ServeArgs::stale_after_secs`].
	pub stale_after: Duration,
	/// See [`ServeArgs::upstream_timeout_secs`].
	pub upstream_timeout: Duration,
	/// See [`ServeArgs::max_in_flight`].
	pub max_in_flight: usize,
	/// See [`ServeArgs::max_queue`].
	pub max_queue: usize,
	/// See [`ServeArgs::queue_timeout_secs`].
	pub queue_timeout: Duration,
	/// See [`ServeArgs::tokens_per_request`].
	pub tokens_per_request: u64,
	/// See [`ServeArgs::upstream_priority`].
	pub upstream_priority: bool,
	/// See [`ServeArgs::no_rate_limits`].
	pub no_rate_limits: bool,
	/// See [`ServeArgs::log_json`].
	pub log_json: bool,
	/// See [`ServeArgs::sync_every_commit`].
	pub sync_every_commit: bool,
}

impl ServeArgs {
	/// The settings: these flags over the `--config` file over the defaults.
	pub fn settings(&self) -> Result<Settings, String> {
		let file = match &self.config {
			Some(path) => {
				let text = std::fs::read_to_string(path)
					.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
				toml::from_str::<ServeArgs>(&text)
					.map_err(|e| format!("{}: {e}", path.display()))?
			}
			None => ServeArgs::default(),
		};
		let upstream = self
			.upstream
			.clone()
			.or(file.upstream)
			.ok_or("--upstream is required: the model server's base URL (with /v1)")?;
		if !upstream.starts_with("http://") {
			return Err(format!("--upstream `{upstream}` is not an http:// URL"));
		}
		let node = self.node.clone().or(file.node).unwrap_or("http://127.0.0.1:9944".into());
		if !node.starts_with("http://") && !node.starts_with("https://") {
			return Err(format!("--node `{node}` is not an http:// URL (use the node's RPC port)"));
		}
		let provider = self
			.provider
			.clone()
			.or(file.provider)
			.ok_or("--provider is required: the provider's SS58 address")?;
		let mut models = HashMap::new();
		let pairs = if self.models.is_empty() { &file.models } else { &self.models };
		for pair in pairs {
			let (id, name) = pair
				.split_once('=')
				.ok_or(format!("--model `{pair}`: expected ID=NAME, e.g. 0=llama3.1:8b"))?;
			let id = id
				.trim()
				.parse()
				.map_err(|_| format!("--model `{pair}`: the id is not a number"))?;
			models.insert(id, name.trim().to_string());
		}
		let listen = self.listen.or(file.listen).unwrap_or(([127, 0, 0, 1], 8787).into());
		let database = self.database.clone().or(file.database);
		if let Some(url) = &database {
			if !["postgres://", "postgresql://", "sqlite:"].iter().any(|p| url.starts_with(p)) {
				return Err(format!("--database `{url}` is not a postgres:// (or sqlite:) URL"));
			}
		}
		Ok(Settings {
			listen,
			database,
			instance: self
				.instance
				.clone()
				.or(file.instance)
				.unwrap_or_else(|| format!("gateway@{listen}")),
			upstream: upstream.trim_end_matches('/').to_string(),
			node,
			provider,
			models,
			data_dir: self
				.data_dir
				.clone()
				.or(file.data_dir)
				.unwrap_or_else(|| PathBuf::from("tokenmeter-gateway-data")),
			default_max_tokens: self.default_max_tokens.or(file.default_max_tokens).unwrap_or(1024),
			max_body_bytes: self.max_body_bytes.or(file.max_body_bytes).unwrap_or(1 << 20),
			min_voucher_blocks: self.min_voucher_blocks.or(file.min_voucher_blocks).unwrap_or(100),
			poll: Duration::from_millis(self.poll_ms.or(file.poll_ms).unwrap_or(1000)),
			stale_after: Duration::from_secs(
				self.stale_after_secs.or(file.stale_after_secs).unwrap_or(60),
			),
			upstream_timeout: Duration::from_secs(
				self.upstream_timeout_secs.or(file.upstream_timeout_secs).unwrap_or(600),
			),
			max_in_flight: self.max_in_flight.or(file.max_in_flight).unwrap_or(64).max(1),
			max_queue: self.max_queue.or(file.max_queue).unwrap_or(4096),
			queue_timeout: Duration::from_secs(
				self.queue_timeout_secs.or(file.queue_timeout_secs).unwrap_or(30),
			),
			tokens_per_request: self.tokens_per_request.or(file.tokens_per_request).unwrap_or(4096),
			upstream_priority: self.upstream_priority || file.upstream_priority,
			no_rate_limits: self.no_rate_limits || file.no_rate_limits,
			log_json: self.log_json || file.log_json,
			sync_every_commit: self.sync_every_commit || file.sync_every_commit,
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn flags_win_over_the_file_and_defaults_fill_the_rest() {
		let dir = tempfile::tempdir().unwrap();
		let file = dir.path().join("gateway.toml");
		std::fs::write(
			&file,
			"upstream = \"http://127.0.0.1:1/v1\"\nprovider = \"5Grw\"\nmodels = [\"0=a\", \"1 = b\"]\ndefault_max_tokens = 7\n",
		)
		.unwrap();
		let args = ServeArgs {
			config: Some(file),
			upstream: Some("http://127.0.0.1:2/v1/".into()),
			..Default::default()
		};
		let settings = args.settings().unwrap();
		assert_eq!(settings.upstream, "http://127.0.0.1:2/v1");
		assert_eq!(settings.provider, "5Grw");
		assert_eq!(settings.models.get(&1).map(String::as_str), Some("b"));
		assert_eq!(settings.default_max_tokens, 7);
		assert_eq!(settings.listen, ([127, 0, 0, 1], 8787).into());
	}

	#[test]
	fn bad_settings_say_what_is_wrong() {
		let args = ServeArgs { provider: Some("5Grw".into()), ..Default::default() };
		assert!(args.settings().unwrap_err().contains("--upstream is required"));
		let args = ServeArgs {
			upstream: Some("http://x/v1".into()),
			provider: Some("5Grw".into()),
			models: vec!["zero=a".into()],
			..Default::default()
		};
		assert!(args.settings().unwrap_err().contains("the id is not a number"));
	}
}
