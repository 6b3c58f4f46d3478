//! The model provider: any OpenAI-compatible `/chat/completions` endpoint, streamed
//! (SSE) through `async-openai`. One call = one [`Provider::stream`]: retried with
//! backoff and jitter while nothing has been streamed yet (429, 5xx, connect errors —
//! async-openai's transport also retries those itself, honouring `Retry-After`), bounded
//! by a request timeout and a stall timeout between chunks. Dropping the future drops the
//! upstream request (the HTTP connection is closed), which is how cancellation works.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures_util::StreamExt;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::AiConfig;

/// Where and as whom a call goes (the server's `QOLLAB_AI_*` or a workspace's own).
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// A function call the model asked for.
#[derive(Debug, Clone, Default)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// What one streamed call produced.
#[derive(Debug, Default)]
pub struct Reply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub model: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the AI provider could not be reached or refused the request: {0}")]
    Provider(String),
    #[error("the AI provider stopped sending for more than {0} s")]
    Stalled(u64),
    #[error("the AI provider took longer than {0} s")]
    TimedOut(u64),
    #[error("the AI provider sent something that is not a chat completion stream: {0}")]
    Garbled(String),
}

// A lenient view of a streamed chunk: providers differ in what they leave out.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<ChunkDelta>,
}

#[derive(Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Calls to the provider, at most `QOLLAB_AI_CONCURRENCY` at once in this process.
pub struct Provider {
    config: AiConfig,
    slots: Arc<Semaphore>,
    /// async-openai speaks reqwest 0.13 (the rest of the server 0.12).
    http: reqwest13::Client,
}

impl Provider {
    pub fn new(config: AiConfig) -> Provider {
        // The TLS stack uses ring (the process's one crypto provider); installing it
        // twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest13::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Provider {
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            http,
        }
    }

    /// The server's own endpoint, when a key is configured.
    pub fn default_endpoint(&self) -> Option<Endpoint> {
        self.config.api_key.as_ref().map(|key| Endpoint {
            base_url: self.config.base_url.clone(),
            api_key: key.clone(),
            model: self.config.model.clone(),
        })
    }

    pub fn config(&self) -> &AiConfig {
        &self.config
    }

    /// Streams one chat completion. `on_text` gets each piece of answer text as it
    /// arrives. `tools` are offered to the model (OpenAI function-calling shape).
    pub async fn stream(
        &self,
        endpoint: &Endpoint,
        messages: &[Value],
        tools: &[Value],
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Reply, CallError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| CallError::Provider("shutting down".into()))?;
        let deadline = Instant::now() + self.config.request_timeout;
        let mut attempt = 0u32;
        loop {
            let mut streamed = false;
            let call = self.once(endpoint, messages, tools, on_text, &mut streamed);
            let r = match tokio::time::timeout_at(deadline.into(), call).await {
                Ok(r) => r,
                Err(_) => Err(CallError::TimedOut(self.config.request_timeout.as_secs())),
            };
            match r {
                // Nothing reached the room yet, so a retry repeats nothing: an error, a
                // refusal, or a provider that took the request and then sent nothing
                // at all for the stall timeout.
                Err(e @ (CallError::Provider(_) | CallError::Stalled(_)))
                    if !streamed && attempt < self.config.max_retries =>
                {
                    attempt += 1;
                    let base = 200u64.saturating_mul(1 << attempt.min(6));
                    let jitter = rand::rng().random_range(0..=base / 2);
                    let wait = Duration::from_millis(base + jitter);
                    if Instant::now() + wait >= deadline {
                        return Err(e);
                    }
                    tracing::warn!(attempt, error = %e, "AI provider call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn once(
        &self,
        endpoint: &Endpoint,
        messages: &[Value],
        tools: &[Value],
        on_text: &mut (dyn FnMut(&str) + Send),
        streamed: &mut bool,
    ) -> Result<Reply, CallError> {
        let client = Client::build(
            self.http.clone(),
            OpenAIConfig::new()
                .with_api_base(endpoint.base_url.clone())
                .with_api_key(endpoint.api_key.clone()),
        );
        let mut body = json!({
            "model": endpoint.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools.to_vec());
        }
        let mut stream = client
            .chat()
            .create_stream_byot::<Value, Chunk>(body)
            .await
            .map_err(classify)?;
        let stall = self.config.stall_timeout;
        let mut reply = Reply {
            model: endpoint.model.clone(),
            ..Reply::default()
        };
        let mut calls: BTreeMap<usize, ToolCall> = BTreeMap::new();
        loop {
            let next = match tokio::time::timeout(stall, stream.next()).await {
                Ok(n) => n,
                Err(_) => return Err(CallError::Stalled(stall.as_secs())),
            };
            let Some(chunk) = next else { break };
            let chunk = match chunk {
                Ok(c) => c,
                Err(OpenAIError::JSONDeserialize(e, _)) => {
                    return Err(CallError::Garbled(e.to_string()));
                }
                Err(OpenAIError::StreamError(e)) => {
                    return Err(CallError::Garbled(e.to_string()));
                }
                Err(e) => return Err(classify(e)),
            };
            if let Some(m) = chunk.model.filter(|m| !m.is_empty()) {
                reply.model = m;
            }
            if let Some(u) = chunk.usage {
                reply.usage = u;
            }
            for choice in chunk.choices {
                let Some(delta) = choice.delta else { continue };
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    *streamed = true;
                    on_text(&text);
                    reply.text.push_str(&text);
                }
                for (i, tc) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                    *streamed = true;
                    let call = calls.entry(tc.index.unwrap_or(i)).or_default();
                    if let Some(id) = tc.id {
                        call.id = id;
                    }
                    if let Some(f) = tc.function {
                        if let Some(n) = f.name {
                            call.name.push_str(&n);
                        }
                        if let Some(a) = f.arguments {
                            call.arguments.push_str(&a);
                        }
                    }
                }
            }
        }
        reply.tool_calls = calls.into_values().filter(|c| !c.name.is_empty()).collect();
        Ok(reply)
    }
}

fn classify(e: OpenAIError) -> CallError {
    match e {
        OpenAIError::JSONDeserialize(e, _) => CallError::Garbled(e.to_string()),
        other => CallError::Provider(other.to_string()),
    }
}
