//! The REST calls the load generator needs (the policy in force, code, login), over a plain
//! HTTP/1.1 connection: not worth an HTTP client dependency.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> anyhow::Result<Value> {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, "POST", path, &request).await
}

pub async fn get_json(addr: SocketAddr, path: &str) -> anyhow::Result<Value> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(addr, "GET", path, &request).await
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    request: &str,
) -> anyhow::Result<Value> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8(raw).context("response is not UTF-8")?;
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked responses are not expected from this server");
    }
    let value: Value = serde_json::from_str(payload).context("response is not JSON")?;
    if status != 200 {
        bail!("{method} {path}: HTTP {status}: {}", value["error"]);
    }
    Ok(value)
}
