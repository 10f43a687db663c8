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

	/// Address of the public listener: the OpenAI-compatible API (`/v1/...`), `/health` and
	/// `/ready`. [default: 127.0.0.1:8787]
	#[arg(long, value_name = "ADDR")]
	pub listen: Option<SocketAddr>,

	/// Address of the operator listener: the usage feed (`/usage`, what the operator node's
	/// `--usage-feed` reads), `/admin/users/<SS58>` and `/metrics`, besides `/health` and
	/// `/ready`. Keep it on loopback or a private network. [default: 127.0.0.1 and the
	/// --listen port + 1]
	#[arg(long, value_name = "ADDR")]
	pub operator_listen: Option<SocketAddr>,

	/// A token the operator endpoints require (`Authorization: Bearer <token>`), for an
	/// operator listener that is not on loopback. [default: none]
	#[arg(long, value_name = "TOKEN", env = "TOKENMETER_GATEWAY_OPERATOR_TOKEN")]
	pub operator_token: Option<String>,

	/// Base URL of the OpenAI-compatible model server, including its `/v1` (llama-server:
	/// `http://127.0.0.1:8080/v1`, vLLM: `http://127.0.0.1:8000/v1`, Ollama:
	/// `http://127.0.0.1:11434/v1`). Several replicas of the same model server: separate their
	/// URLs with commas; requests go to the replica with the fewest in flight among those
	/// whose health check passes.
	#[arg(long, value_name = "URL[,URL...]")]
	pub upstream: Option<String>,

	/// Routes a model to its own model server(s), e.g. `1=http://127.0.0.1:8001/v1` (replicas
	/// separated by commas); repeat for several models. Other models go to --upstream.
	#[arg(long = "model-upstream", value_name = "ID=URL[,URL...]")]
	#[serde(default)]
	pub model_upstreams: Vec<String>,

	/// Seconds between health checks of each upstream replica (`GET <url>/models`).
	/// [default: 5]
	#[arg(long, value_name = "SECS")]
	pub health_every_secs: Option<u64>,

	/// The public base URL clients use (e.g. `https://api.example.com`), for the absolute
	/// `resource.url` of `PAYMENT-REQUIRED`. [default: http:// and the request's Host]
	#[arg(long, value_name = "URL")]
	pub public_url: Option<String>,

	/// A browser origin allowed to call the API (CORS), e.g. `https://app.example.com`, or
	/// `*` for any; repeat for several. [default: none]
	#[arg(long = "cors-origin", value_name = "ORIGIN")]
	#[serde(default)]
	pub cors_origins: Vec<String>,

	/// A PEM file of a certificate authority to trust for an `https://` --node (besides the
	/// system's). [default: the system's roots only]
	#[arg(long, value_name = "FILE")]
	pub node_ca_cert: Option<PathBuf>,

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

	/// Seconds a whole answer that is not streamed may take. [default: 600]
	#[arg(long, value_name = "SECS")]
	pub upstream_timeout_secs: Option<u64>,
	/// Seconds a streamed answer may take in all. [default: 3600]
	#[arg(long, value_name = "SECS")]
	pub stream_timeout_secs: Option<u64>,
	/// Seconds the upstream may stay silent (no byte) during an answer before it is treated
	/// as failed. [default: 120]
	#[arg(long, value_name = "SECS")]
	pub upstream_idle_timeout_secs: Option<u64>,
	/// Seconds a client may leave a streamed answer unread before it is treated as gone (the
	/// upstream is let go and the tokens produced so far are charged). [default: 30]
	#[arg(long, value_name = "SECS")]
	pub client_idle_timeout_secs: Option<u64>,
	/// Seconds a shutdown (SIGTERM, SIGINT) waits for answers in flight. [default: 30]
	#[arg(long, value_name = "SECS")]
	pub drain_secs: Option<u64>,
	/// Milliseconds between seals of the usage feed (charges become feed records).
	/// [default: 1000]
	#[arg(long, value_name = "MS")]
	pub seal_every_ms: Option<u64>,
	/// Choices a request may ask for at most (`n`, `best_of`); each is reserved for in full.
	/// [default: 4]
	#[arg(long, value_name = "N")]
	pub max_choices: Option<u32>,
	/// Answers kept in memory, by receipt, so that their users can give feedback on them
	/// (`POST /v1/feedback`); 0 keeps none and sends no receipts. [default: 4096]
	#[arg(long, value_name = "N")]
	pub answers_kept: Option<usize>,
	/// Seconds an answer is kept for feedback. [default: 3600]
	#[arg(long, value_name = "SECS")]
	pub answers_kept_secs: Option<u64>,

	/// Requests with the upstream at once; the rest wait in a queue ordered by the users'
	/// priority weights (weighted fair queueing). [default: 64]
	#[arg(long, value_name = "N")]
	pub max_in_flight: Option<usize>,
	/// Threads that serve requests. One is enough for a model server's pace and leaves the
	/// other cores to a model that computes on the CPU beside the gateway (fewer wake-ups
	/// taking its cores); give more for thousands of requests a second.
	/// [default: one per core]
	#[arg(long, value_name = "N")]
	pub threads: Option<usize>,
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
	/// With `--database postgres://…`, keeps this instance's priority queue in its own memory
	/// in front of its own `--max-in-flight` places, instead of the fleet's one queue in the
	/// database (where `--max-in-flight` counts the places of all instances together): for
	/// instances that each have upstreams of their own.
	#[arg(long)]
	#[serde(default)]
	pub local_queue: bool,
	/// Serves every user without its tier's rate limit (priority by stake still applies): for
	/// a provider that limits elsewhere, and for benchmarks.
	#[arg(long)]
	#[serde(default)]
	pub no_rate_limits: bool,
	/// Logs as JSON lines instead of text.
	#[arg(long)]
	#[serde(default)]
	pub log_json: bool,
	/// Writes no access log (by default one line per request on stderr: request id, method,
	/// path, status, milliseconds).
	#[arg(long)]
	#[serde(default)]
	pub no_access_log: bool,
	/// Every charge is committed to the embedded database before its answer is sent, waiting
	/// for the disk (SQLite `synchronous = FULL`), so that not even a power cut loses a charge;
	/// it costs a disk sync per answer (or group of answers). By default every charge is written
	/// to the database's charge journal before its answer is sent and survives a crash of the
	/// gateway, and the disk is synced beside it: a power cut can undo the last charges, the
	/// provider's loss only.
	#[arg(long)]
	#[serde(default)]
	pub sync_every_commit: bool,
}

/// The settings in effect.
#[derive(Debug, Clone)]
pub struct Settings {
	/// See [`ServeArgs::listen`].
	pub listen: SocketAddr,
	/// See [`ServeArgs::operator_listen`].
	pub operator_listen: SocketAddr,
	/// See [`ServeArgs::operator_token`].
	pub operator_token: Option<String>,
	/// The replicas of the default upstream (base URLs without a trailing slash).
	pub upstream: Vec<String>,
	/// On-chain model id → the replicas of its own upstream.
	pub model_upstreams: HashMap<u32, Vec<String>>,
	/// See [`ServeArgs::health_every_secs`].
	pub health_every: Duration,
	/// See [`ServeArgs::public_url`] (without a trailing slash).
	pub public_url: Option<String>,
	/// See [`ServeArgs::cors_origins`].
	pub cors_origins: Vec<String>,
	/// See [`ServeArgs::node_ca_cert`].
	pub node_ca_cert: Option<PathBuf>,
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
	/// See [`ServeArgs::stream_timeout_secs`].
	pub stream_timeout: Duration,
	/// See [`ServeArgs::upstream_idle_timeout_secs`].
	pub upstream_idle_timeout: Duration,
	/// See [`ServeArgs::client_idle_timeout_secs`].
	pub client_idle_timeout: Duration,
	/// See [`ServeArgs::drain_secs`].
	pub drain: Duration,
	/// See [`ServeArgs::seal_every_ms`].
	pub seal_every: Duration,
	/// See [`ServeArgs::max_choices`].
	pub max_choices: u32,
	/// See [`ServeArgs::answers_kept`].
	pub answers_kept: usize,
	/// See [`ServeArgs::answers_kept_secs`].
	pub answers_kept_for: Duration,
	/// See [`ServeArgs::max_in_flight`].
	pub max_in_flight: usize,
	/// See [`ServeArgs::threads`]: `None` for one per core.
	pub threads: Option<usize>,
	/// See [`ServeArgs::max_queue`].
	pub max_queue: usize,
	/// See [`ServeArgs::queue_timeout_secs`].
	pub queue_timeout: Duration,
	/// See [`ServeArgs::tokens_per_request`].
	pub tokens_per_request: u64,
	/// See [`ServeArgs::upstream_priority`].
	pub upstream_priority: bool,
	/// See [`ServeArgs::local_queue`].
	pub local_queue: bool,
	/// See [`ServeArgs::no_rate_limits`].
	pub no_rate_limits: bool,
	/// See [`ServeArgs::log_json`].
	pub log_json: bool,
	/// See [`ServeArgs::no_access_log`].
	pub no_access_log: bool,
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
		let upstream = replicas("--upstream", &upstream)?;
		let mut model_upstreams = HashMap::new();
		let routes = if self.model_upstreams.is_empty() {
			&file.model_upstreams
		} else {
			&self.model_upstreams
		};
		for route in routes {
			let (id, urls) = route
				.split_once('=')
				.ok_or(format!("--model-upstream `{route}`: expected ID=URL[,URL...]"))?;
			let id: u32 = id
				.trim()
				.parse()
				.map_err(|_| format!("--model-upstream `{route}`: the id is not a number"))?;
			model_upstreams.insert(id, replicas("--model-upstream", urls)?);
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
		let operator_listen = self.operator_listen.or(file.operator_listen).unwrap_or_else(|| {
			([127, 0, 0, 1], listen.port().checked_add(1).unwrap_or(8788)).into()
		});
		if operator_listen == listen {
			return Err(format!(
				"--operator-listen {operator_listen} is --listen: the operator endpoints need their own listener"
			));
		}
		let public_url = self.public_url.clone().or(file.public_url);
		if let Some(url) = &public_url {
			if !url.starts_with("http://") && !url.starts_with("https://") {
				return Err(format!("--public-url `{url}` is not an http(s):// URL"));
			}
		}
		let database = self.database.clone().or(file.database);
		if let Some(url) = &database {
			if !["postgres://", "postgresql://", "sqlite:"].iter().any(|p| url.starts_with(p)) {
				return Err(format!("--database `{url}` is not a postgres:// (or sqlite:) URL"));
			}
		}
		let pick = |flag: &Vec<String>, file: &Vec<String>| {
			if flag.is_empty() {
				file.clone()
			} else {
				flag.clone()
			}
		};
		let secs = |flag: Option<u64>, file: Option<u64>, default: u64| {
			Duration::from_secs(flag.or(file).unwrap_or(default))
		};
		Ok(Settings {
			listen,
			operator_listen,
			operator_token: self.operator_token.clone().or(file.operator_token),
			model_upstreams,
			health_every: secs(self.health_every_secs, file.health_every_secs, 5)
				.max(Duration::from_millis(200)),
			public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
			cors_origins: pick(&self.cors_origins, &file.cors_origins),
			node_ca_cert: self.node_ca_cert.clone().or(file.node_ca_cert),
			stream_timeout: secs(self.stream_timeout_secs, file.stream_timeout_secs, 3600),
			upstream_idle_timeout: secs(
				self.upstream_idle_timeout_secs,
				file.upstream_idle_timeout_secs,
				120,
			),
			client_idle_timeout: secs(
				self.client_idle_timeout_secs,
				file.client_idle_timeout_secs,
				30,
			),
			drain: secs(self.drain_secs, file.drain_secs, 30),
			seal_every: Duration::from_millis(
				self.seal_every_ms.or(file.seal_every_ms).unwrap_or(1000).max(10),
			),
			max_choices: self.max_choices.or(file.max_choices).unwrap_or(4).max(1),
			answers_kept: self.answers_kept.or(file.answers_kept).unwrap_or(4096),
			answers_kept_for: secs(self.answers_kept_secs, file.answers_kept_secs, 3600),
			database,
			instance: self
				.instance
				.clone()
				.or(file.instance)
				.unwrap_or_else(|| format!("gateway@{listen}")),
			upstream,
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
			threads: match self.threads.or(file.threads) {
				Some(0) => return Err("--threads must be at least 1".into()),
				threads => threads,
			},
			max_queue: self.max_queue.or(file.max_queue).unwrap_or(4096),
			queue_timeout: Duration::from_secs(
				self.queue_timeout_secs.or(file.queue_timeout_secs).unwrap_or(30),
			),
			tokens_per_request: self.tokens_per_request.or(file.tokens_per_request).unwrap_or(4096),
			upstream_priority: self.upstream_priority || file.upstream_priority,
			local_queue: self.local_queue || file.local_queue,
			no_rate_limits: self.no_rate_limits || file.no_rate_limits,
			log_json: self.log_json || file.log_json,
			no_access_log: self.no_access_log || file.no_access_log,
			sync_every_commit: self.sync_every_commit || file.sync_every_commit,
		})
	}
}

/// The base URLs of `list` (comma-separated `http://` URLs), without trailing slashes.
fn replicas(flag: &str, list: &str) -> Result<Vec<String>, String> {
	let urls: Vec<String> = list
		.split(',')
		.map(|u| u.trim().trim_end_matches('/').to_string())
		.filter(|u| !u.is_empty())
		.collect();
	if urls.is_empty() {
		return Err(format!("{flag} `{list}` names no URL"));
	}
	for url in &urls {
		if !url.starts_with("http://") {
			return Err(format!("{flag} `{url}` is not an http:// URL"));
		}
	}
	Ok(urls)
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
			"upstream = \"http://127.0.0.1:1/v1\"\nprovider = \"5Grw\"\nmodels = [\"0=a\", \"1 = b\"]\ndefault_max_tokens = 7\nthreads = 1\n",
		)
		.unwrap();
		let args = ServeArgs {
			config: Some(file),
			upstream: Some("http://127.0.0.1:2/v1/".into()),
			..Default::default()
		};
		let settings = args.settings().unwrap();
		assert_eq!(settings.upstream, vec!["http://127.0.0.1:2/v1".to_string()]);
		assert_eq!(settings.operator_listen, ([127, 0, 0, 1], 8788).into());
		assert_eq!(settings.provider, "5Grw");
		assert_eq!(settings.models.get(&1).map(String::as_str), Some("b"));
		assert_eq!(settings.default_max_tokens, 7);
		assert_eq!(settings.listen, ([127, 0, 0, 1], 8787).into());
		assert_eq!(settings.threads, Some(1));
		let defaults = ServeArgs {
			upstream: Some("http://a/v1".into()),
			provider: Some("5Grw".into()),
			..Default::default()
		};
		assert_eq!(defaults.settings().unwrap().threads, None, "one per core");
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
		let args = ServeArgs {
			upstream: Some("http://a/v1, ftp://b".into()),
			provider: Some("5Grw".into()),
			..Default::default()
		};
		assert!(args.settings().unwrap_err().contains("`ftp://b` is not an http:// URL"));
		let args = ServeArgs {
			upstream: Some("http://a/v1".into()),
			provider: Some("5Grw".into()),
			threads: Some(0),
			..Default::default()
		};
		assert_eq!(args.settings().unwrap_err(), "--threads must be at least 1");
	}

	#[test]
	fn replicas_and_routes_are_lists_of_urls() {
		let args = ServeArgs {
			upstream: Some("http://a/v1/,http://b/v1".into()),
			model_upstreams: vec!["3=http://c/v1".into()],
			provider: Some("5Grw".into()),
			listen: Some(([0, 0, 0, 0], 9000).into()),
			..Default::default()
		};
		let settings = args.settings().unwrap();
		assert_eq!(settings.upstream, vec!["http://a/v1".to_string(), "http://b/v1".to_string()]);
		assert_eq!(settings.model_upstreams[&3], vec!["http://c/v1".to_string()]);
		assert_eq!(settings.operator_listen, ([127, 0, 0, 1], 9001).into());
		let same = ServeArgs { operator_listen: Some(([0, 0, 0, 0], 9000).into()), ..args };
		assert!(same.settings().unwrap_err().contains("need their own listener"));
	}
}
