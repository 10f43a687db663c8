//! Sending a request to a replica. A model server at an `http://` address is reached by the
//! gateway's own HTTP/1.1 client: hyper's connections kept in a pool of the replica's own, a
//! request written to an idle one (or a new one), the connection back in the pool once its
//! answer is read to the end. That is all a model server on the operator's network needs, and
//! it costs half the processor time per request of reqwest's client (`scripts/bench-gateway.sh`,
//! docs/gateway.md), which also parses the URL, applies a redirect policy and passes through
//! several layers per request. An `https://` address, or any address when a proxy is set in the
//! environment (`HTTP_PROXY`, `ALL_PROXY`), goes through reqwest, which does TLS and proxies.

use std::{
	pin::Pin,
	sync::{Arc, Mutex},
	task::{Context, Poll},
	time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::{stream::BoxStream, Stream, StreamExt};
use http_body_util::Full;
use hyper::{body::Incoming, client::conn::http1::SendRequest, header};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle connection is not used after this long, so that it is closed before the model
/// server's own keep-alive timeout (5 s for uvicorn, which vLLM runs on, for llama-server and
/// for Node.js) can close it under a request sent on it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept per replica, at most.
pub const MAX_IDLE: usize = 256;

/// Why a request did not get an answer.
#[derive(Debug)]
pub enum SendError {
	/// No connection could be opened: the replica is down.
	Connect(String),
	/// A kept-alive connection was closed by the model server as the request went out:
	/// nothing was answered, the request may be sent again.
	Closed(String),
	/// Anything else.
	Failed(String),
}

/// The connections to one replica at an `http://` address.
pub struct Conns {
	/// `host:port`, connected to and sent as `Host`.
	authority: String,
	/// `authority` as the `Host` header.
	host: header::HeaderValue,
	/// The base URL's path (e.g. `/v1`), before the request's own.
	prefix: String,
	/// The URIs of the paths posted to (a few endpoints), made once each.
	uris: Mutex<Vec<(String, hyper::Uri)>>,
	/// Idle connections, the most recently used last.
	idle: Mutex<Vec<(SendRequest<Full<Bytes>>, Instant)>>,
}

/// Whether a proxy is set in the environment, which reqwest's client would go through.
pub fn proxy_set() -> bool {
	["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
		.iter()
		.any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

impl Conns {
	/// For `base` when the gateway's own client can serve it: `http://`, no query or user.
	pub fn for_base(base: &str) -> Option<Arc<Self>> {
		let url = reqwest::Url::parse(base).ok()?;
		if url.scheme() != "http" || !url.username().is_empty() || url.query().is_some() {
			return None;
		}
		// An IPv6 address in its brackets.
		let host = url.host_str()?;
		let port = url.port_or_known_default()?;
		let authority = format!("{host}:{port}");
		Some(Arc::new(Conns {
			host: header::HeaderValue::from_str(&authority).ok()?,
			authority,
			prefix: url.path().trim_end_matches('/').to_string(),
			uris: Mutex::new(Vec::new()),
			idle: Mutex::new(Vec::new()),
		}))
	}

	/// Idle connections now.
	pub fn idle(&self) -> usize {
		self.idle.lock().map(|idle| idle.len()).unwrap_or(0)
	}

	/// An idle connection that is still open and fresh, else a new one.
	async fn checkout(&self) -> Result<SendRequest<Full<Bytes>>, SendError> {
		loop {
			let next = self.idle.lock().ok().and_then(|mut idle| idle.pop());
			let Some((mut sender, since)) = next else { break };
			// Waits only for the connection's task to see the last answer's end.
			if since.elapsed() < IDLE_TIMEOUT && sender.ready().await.is_ok() {
				return Ok(sender);
			}
		}
		let connect = async {
			let tcp = tokio::net::TcpStream::connect(&self.authority).await?;
			tcp.set_nodelay(true)?;
			Ok::<_, std::io::Error>(tcp)
		};
		let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
			Ok(Ok(tcp)) => tcp,
			Ok(Err(e)) => return Err(SendError::Connect(format!("{}: {e}", self.authority))),
			Err(_) => {
				return Err(SendError::Connect(format!(
					"{}: no connection within {} s",
					self.authority,
					CONNECT_TIMEOUT.as_secs()
				)))
			}
		};
		let (sender, connection) =
			hyper::client::conn::http1::handshake(TokioIo::new(tcp))
				.await
				.map_err(|e| SendError::Connect(format!("{}: {e}", self.authority)))?;
		tokio::spawn(async move {
			if let Err(e) = connection.await {
				tracing::debug!("a connection to a model server ended: {e}");
			}
		});
		Ok(sender)
	}

	/// Gives back a connection whose answer was read to the end.
	fn check_in(&self, sender: SendRequest<Full<Bytes>>) {
		if sender.is_closed() {
			return;
		}
		if let Ok(mut idle) = self.idle.lock() {
			if idle.len() < MAX_IDLE {
				idle.push((sender, Instant::now()));
			}
		}
	}

	/// The URI of `path` under the base URL (made once for each of the first few paths).
	fn uri(&self, path: &str) -> Result<hyper::Uri, SendError> {
		let mut uris = self.uris.lock().unwrap_or_else(|e| e.into_inner());
		if let Some((_, uri)) = uris.iter().find(|(p, _)| p == path) {
			return Ok(uri.clone());
		}
		let uri = hyper::Uri::try_from(format!("{}{path}", self.prefix))
			.map_err(|e| SendError::Failed(format!("{path}: {e}")))?;
		if uris.len() < 8 {
			uris.push((path.to_string(), uri.clone()));
		}
		Ok(uri)
	}

	/// `POST`s the JSON `body` to `path` (e.g. `/chat/completions`) under the base URL.
	pub async fn post(self: &Arc<Self>, path: &str, body: Bytes) -> Result<Answer, SendError> {
		let uri = self.uri(path)?;
		let mut sender = self.checkout().await?;
		let mut request = hyper::Request::new(Full::new(body));
		*request.method_mut() = hyper::Method::POST;
		*request.uri_mut() = uri;
		let headers = request.headers_mut();
		headers.insert(header::HOST, self.host.clone());
		headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
		let answer = sender.send_request(request).await.map_err(|e| {
			if e.is_incomplete_message() || e.is_canceled() {
				SendError::Closed(causes(&e))
			} else {
				SendError::Failed(causes(&e))
			}
		})?;
		let status = answer.status().as_u16();
		let body = Plain { body: answer.into_body(), back: Some((sender, self.clone())) };
		Ok(Answer { status, body: Body::Plain(body), deadline: None })
	}
}

/// An error with its causes.
pub fn causes(error: &dyn std::error::Error) -> String {
	let mut text = error.to_string();
	let mut source = error.source();
	while let Some(cause) = source {
		text.push_str(": ");
		text.push_str(&cause.to_string());
		source = cause.source();
	}
	text
}

/// An answer's body read from one of the gateway's own connections, which goes back to its
/// pool when the body ends (and is closed if it is dropped before).
struct Plain {
	body: Incoming,
	back: Option<(SendRequest<Full<Bytes>>, Arc<Conns>)>,
}

impl Stream for Plain {
	type Item = Result<Bytes, String>;

	fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
		use hyper::body::Body as _;
		loop {
			match Pin::new(&mut self.body).poll_frame(cx) {
				Poll::Pending => return Poll::Pending,
				Poll::Ready(Some(Ok(frame))) => {
					// Trailers are not relayed.
					if let Ok(data) = frame.into_data() {
						return Poll::Ready(Some(Ok(data)));
					}
				}
				Poll::Ready(Some(Err(e))) => {
					self.back = None;
					return Poll::Ready(Some(Err(causes(&e))));
				}
				Poll::Ready(None) => {
					if let Some((sender, conns)) = self.back.take() {
						conns.check_in(sender);
					}
					return Poll::Ready(None);
				}
			}
		}
	}
}

enum Body {
	Plain(Plain),
	Reqwest(reqwest::Response),
}

/// A model server's answer, its headers read.
pub struct Answer {
	status: u16,
	body: Body,
	/// When the whole answer must have been read by ([`Answer::bytes`]).
	deadline: Option<Instant>,
}

impl From<reqwest::Response> for Answer {
	fn from(response: reqwest::Response) -> Self {
		Answer { status: response.status().as_u16(), body: Body::Reqwest(response), deadline: None }
	}
}

impl Answer {
	/// Its status code.
	pub fn status(&self) -> u16 {
		self.status
	}

	/// The whole of it must be read by `deadline`.
	pub fn read_by(mut self, deadline: Instant) -> Self {
		self.deadline = Some(deadline);
		self
	}

	/// Its body as it comes.
	pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, String>> {
		match self.body {
			Body::Plain(plain) => plain.boxed(),
			Body::Reqwest(response) => {
				response.bytes_stream().map(|chunk| chunk.map_err(|e| causes(&e))).boxed()
			}
		}
	}

	/// Its whole body (by the deadline, if it has one).
	pub async fn bytes(self) -> Result<Bytes, String> {
		let deadline = self.deadline;
		let read = async {
			match self.body {
				Body::Reqwest(response) => response.bytes().await.map_err(|e| causes(&e)),
				Body::Plain(mut plain) => {
					let mut all = BytesMut::new();
					while let Some(chunk) = plain.next().await {
						all.extend_from_slice(&chunk?);
					}
					Ok(all.freeze())
				}
			}
		};
		match deadline {
			Some(deadline) => tokio::time::timeout_at(deadline, read)
				.await
				.unwrap_or_else(|_| Err("operation timed out".into())),
			None => read.await,
		}
	}

	/// Its body as text (an error's, relayed as it is).
	pub async fn text(self) -> String {
		match self.bytes().await {
			Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
			Err(_) => String::new(),
		}
	}
}

#[cfg(test)]
mod tests {
	use std::sync::atomic::{AtomicUsize, Ordering};

	use axum::{response::IntoResponse, routing::post, Router};

	use super::*;

	/// A model server on a free port answering `POST /v1/echo` with the body it got (and
	/// `Connection: close` when the body is `close`); counts the connections it accepted.
	async fn server() -> (String, Arc<AtomicUsize>) {
		let accepted = Arc::new(AtomicUsize::new(0));
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let counter = accepted.clone();
		let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
			counter.fetch_add(1, Ordering::SeqCst);
		});
		let echo = |body: Bytes| async move {
			if &body[..] == b"close" {
				([(header::CONNECTION, "close")], body).into_response()
			} else {
				body.into_response()
			}
		};
		let app = Router::new().route("/v1/echo", post(echo));
		tokio::spawn(async move { axum::serve(listener, app).await });
		(format!("http://{addr}/v1"), accepted)
	}

	#[test]
	fn http_addresses_are_served_by_the_own_client_others_by_reqwest() {
		let conns = Conns::for_base("http://10.0.0.7:8000/v1").unwrap();
		assert_eq!((conns.authority.as_str(), conns.prefix.as_str()), ("10.0.0.7:8000", "/v1"));
		let conns = Conns::for_base("http://[::1]/v1/").unwrap();
		assert_eq!((conns.authority.as_str(), conns.prefix.as_str()), ("[::1]:80", "/v1"));
		let conns = Conns::for_base("http://models.internal:8080").unwrap();
		assert_eq!((conns.authority.as_str(), conns.prefix.as_str()), ("models.internal:8080", ""));
		assert!(Conns::for_base("https://api.example.com/v1").is_none());
		assert!(Conns::for_base("http://user:secret@models.internal/v1").is_none());
		assert!(Conns::for_base("not a url").is_none());
	}

	#[test]
	fn a_paths_uri_is_made_once_and_a_bad_path_is_an_error() {
		let conns = Conns::for_base("http://10.0.0.7:8000/v1/").unwrap();
		assert_eq!(conns.host, "10.0.0.7:8000");
		let uri = conns.uri("/chat/completions").unwrap();
		assert_eq!(uri, "/v1/chat/completions");
		assert_eq!(conns.uri("/chat/completions").unwrap(), uri);
		assert_eq!(conns.uri("/embeddings").unwrap(), "/v1/embeddings");
		assert_eq!(conns.uris.lock().unwrap().len(), 2, "each path made once");
		// Past the first few paths, made each time and not kept.
		for i in 0..20 {
			assert_eq!(conns.uri(&format!("/p{i}")).unwrap(), format!("/v1/p{i}").as_str());
		}
		assert_eq!(conns.uris.lock().unwrap().len(), 8);
		let error = conns.uri("/bad path").unwrap_err();
		assert!(
			matches!(error, SendError::Failed(ref why) if why.contains("/bad path")),
			"{error:?}"
		);
	}

	#[tokio::test]
	async fn a_connection_read_to_the_end_serves_the_next_request() {
		let (base, accepted) = server().await;
		let conns = Conns::for_base(&base).unwrap();
		for i in 0..5 {
			let answer = conns.post("/echo", Bytes::from(format!("hello {i}"))).await.unwrap();
			assert_eq!(answer.status(), 200);
			assert_eq!(answer.bytes().await.unwrap(), format!("hello {i}"));
			assert_eq!(conns.idle(), 1, "back in the pool once read");
		}
		assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for all five");
		// Streamed to the end: back in the pool too.
		let answer = conns.post("/echo", Bytes::from_static(b"streamed")).await.unwrap();
		let chunks: Vec<_> = answer.into_stream().collect().await;
		assert_eq!(chunks.concat_ok(), b"streamed");
		assert_eq!((conns.idle(), accepted.load(Ordering::SeqCst)), (1, 1));
	}

	#[tokio::test]
	async fn an_answer_not_read_to_the_end_or_closed_does_not_go_back() {
		let (base, accepted) = server().await;
		let conns = Conns::for_base(&base).unwrap();
		// Dropped unread: its connection is closed, not pooled, and the next request opens one.
		let answer = conns.post("/echo", Bytes::from_static(b"unread")).await.unwrap();
		drop(answer);
		assert_eq!(conns.idle(), 0);
		let answer = conns.post("/echo", Bytes::from_static(b"close")).await.unwrap();
		assert_eq!(answer.bytes().await.unwrap(), "close");
		assert_eq!(accepted.load(Ordering::SeqCst), 2);
		// Closed by the server after its answer: the next request opens a new one.
		let answer = conns.post("/echo", Bytes::from_static(b"again")).await.unwrap();
		assert_eq!(answer.bytes().await.unwrap(), "again");
		assert_eq!(accepted.load(Ordering::SeqCst), 3);
		// An unknown path is the server's own answer, its status relayed.
		let answer = conns.post("/missing", Bytes::new()).await.unwrap();
		assert_eq!(answer.status(), 404);
	}

	#[tokio::test]
	async fn a_server_that_is_down_is_a_connect_error_and_a_slow_answer_times_out() {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		drop(listener);
		let conns = Conns::for_base(&format!("http://{addr}/v1")).unwrap();
		let error = conns.post("/echo", Bytes::new()).await.err().unwrap();
		assert!(matches!(error, SendError::Connect(_)), "{error:?}");
		assert_eq!(conns.idle(), 0);

		// Headers at once, the body never: the deadline ends the read.
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		tokio::spawn(async move {
			use tokio::io::{AsyncReadExt, AsyncWriteExt};
			let (mut socket, _) = listener.accept().await.unwrap();
			let mut buffer = [0u8; 1024];
			let _ = socket.read(&mut buffer).await;
			let head = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf";
			socket.write_all(head.as_bytes()).await.unwrap();
			tokio::time::sleep(Duration::from_secs(30)).await;
		});
		let conns = Conns::for_base(&format!("http://{addr}/v1")).unwrap();
		let answer = conns.post("/echo", Bytes::new()).await.unwrap();
		let answer = answer.read_by(Instant::now() + Duration::from_millis(200));
		assert_eq!(answer.bytes().await.unwrap_err(), "operation timed out");
		assert_eq!(conns.idle(), 0);
	}

	/// The bytes of chunks that are all `Ok`.
	trait ConcatOk {
		fn concat_ok(self) -> Vec<u8>;
	}

	impl ConcatOk for Vec<Result<Bytes, String>> {
		fn concat_ok(self) -> Vec<u8> {
			self.into_iter().flat_map(|chunk| chunk.unwrap().to_vec()).collect()
		}
	}
}
