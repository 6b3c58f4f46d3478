//! A stand-in for an OpenAI-compatible provider on loopback: `POST /v1/chat/completions`
//! answered as an SSE stream (text chunks, tool-call deltas, a usage chunk, `[DONE]`),
//! or on demand a 429/500, a garbled stream or a stall. It records every request body
//! and every client that hung up mid-stream. The one allowed stand-in, as for IBM.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the stand-in answers one request with.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Streams the pieces, `gap` apart, then usage and `[DONE]`.
    Text { pieces: Vec<String>, gap: Duration },
    /// Streams one function call, its arguments in a few pieces.
    Tool { name: String, arguments: Value },
    /// An error status with an OpenAI error body.
    Status(u16),
    /// A stream whose data is not JSON.
    Garbled,
    /// One piece, then silence (the connection stays open).
    Stall,
    /// The stream's headers, then silence: not one chunk.
    Silence,
}

impl Reply {
    pub fn text(pieces: &[&str]) -> Reply {
        Reply::Text {
            pieces: pieces.iter().map(|s| s.to_string()).collect(),
            gap: Duration::from_millis(5),
        }
    }

    pub fn slow(pieces: usize, gap: Duration) -> Reply {
        Reply::Text {
            pieces: (0..pieces).map(|i| format!("piece{i} ")).collect(),
            gap,
        }
    }

    pub fn tool(name: &str, arguments: Value) -> Reply {
        Reply::Tool {
            name: name.into(),
            arguments,
        }
    }
}

pub const PROMPT_TOKENS: i64 = 42;
pub const COMPLETION_TOKENS: i64 = 7;

#[derive(Default)]
struct Inner {
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Value>>,
    hung_up: AtomicUsize,
}

#[derive(Clone)]
pub struct StandIn {
    /// The base URL to configure (`…/v1`).
    pub url: String,
    inner: Arc<Inner>,
}

impl StandIn {
    /// Starts on a random loopback port; answers `fallback` when the script is empty.
    pub async fn start(fallback: Reply) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("stand-in bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("stand-in addr: {e}"));
        let inner = Arc::new(Inner::default());
        *inner.fallback.lock().unwrap_or_else(|p| p.into_inner()) = Some(fallback);
        let i = inner.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, i.clone()));
            }
        });
        StandIn {
            url: format!("http://{addr}/v1"),
            inner,
        }
    }

    /// Queues replies for the next requests, in order.
    pub fn script(&self, replies: Vec<Reply>) {
        self.inner
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(replies);
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Clients that hung up while being streamed to.
    pub fn hung_up(&self) -> usize {
        self.inner.hung_up.load(Ordering::SeqCst)
    }
}

/// The request's `messages` as one text, for searching.
pub fn messages_text(request: &Value) -> String {
    request["messages"].to_string()
}

fn chunk(delta: Value) -> String {
    let c = json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0,
        "model": "stand-in-model", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
    format!("data: {c}\n\n")
}

fn usage_chunk() -> String {
    let c = json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0,
        "model": "stand-in-model", "choices": [],
        "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                  "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}});
    format!("data: {c}\n\n")
}

async fn read_request(sock: &mut TcpStream) -> Option<Value> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    serde_json::from_slice(&buf[head_end..head_end + len]).ok()
}

async fn serve(mut sock: TcpStream, inner: Arc<Inner>) {
    let Some(body) = read_request(&mut sock).await else {
        return;
    };
    inner
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(body);
    let reply = {
        let next = inner
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        next.or_else(|| {
            inner
                .fallback
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        })
    };
    let Some(reply) = reply else { return };
    if let Reply::Status(code) = reply {
        let body = json!({"error": {"message": format!("stand-in status {code}"),
            "type": if code == 429 { "rate_limit_error" } else { "server_error" }, "param": null, "code": null}})
        .to_string();
        let head = format!(
            "HTTP/1.1 {code} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = sock.write_all(format!("{head}{body}").as_bytes()).await;
        return;
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut frames: Vec<(String, Duration)> = Vec::new();
    match reply {
        Reply::Text { pieces, gap } => {
            frames.push((
                chunk(json!({"role": "assistant", "content": ""})),
                Duration::ZERO,
            ));
            for p in pieces {
                frames.push((chunk(json!({"content": p})), gap));
            }
            frames.push((usage_chunk(), Duration::ZERO));
            frames.push(("data: [DONE]\n\n".into(), Duration::ZERO));
        }
        Reply::Tool { name, arguments } => {
            let args = arguments.to_string();
            let mid = args.len() / 2;
            let (a, b) = args.split_at(if args.is_char_boundary(mid) { mid } else { 0 });
            frames.push((
                chunk(
                    json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_standin",
                    "type": "function", "function": {"name": name, "arguments": ""}}]}),
                ),
                Duration::ZERO,
            ));
            for piece in [a, b] {
                frames.push((
                    chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})),
                    Duration::from_millis(2),
                ));
            }
            frames.push((usage_chunk(), Duration::ZERO));
            frames.push(("data: [DONE]\n\n".into(), Duration::ZERO));
        }
        Reply::Garbled => {
            frames.push(("data: {this is not json\n\n".into(), Duration::ZERO));
        }
        Reply::Silence => {
            frames.push((String::new(), Duration::from_secs(3600)));
        }
        Reply::Stall => {
            frames.push((chunk(json!({"content": "Thinking"})), Duration::ZERO));
            frames.push((String::new(), Duration::from_secs(3600)));
        }
        Reply::Status(_) => {}
    }
    for (frame, wait) in frames {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let written = async {
            sock.write_all(frame.as_bytes()).await?;
            sock.flush().await
        };
        if frame.is_empty() {
            continue;
        }
        if written.await.is_err() {
            inner.hung_up.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    let _ = sock.shutdown().await;
}
