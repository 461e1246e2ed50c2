//! A loopback HTTP server that accepts every POST and keeps it: the far end of the exporters
//! in tests (an OTLP/HTTP collector, a Sentry envelope endpoint) and of webhook deliveries.
//! Plain HTTP/1.1 with `Content-Length` bodies and keep-alive — what they send. It answers
//! 200 unless told otherwise ([`HttpSink::reply_with`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Posted {
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Posted {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The server; its thread lives as long as the test process.
#[derive(Clone)]
pub struct HttpSink {
    pub address: std::net::SocketAddr,
    received: Arc<Mutex<Vec<Posted>>>,
    reply: Arc<Mutex<Reply>>,
}

/// The status and headers every request is answered with, after a delay.
type Reply = (u16, Vec<(String, String)>, Duration);

impl HttpSink {
    /// # Panics
    /// When no loopback port can be bound.
    #[allow(clippy::expect_used)]
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// On a given loopback port (0: any free one) — a receiver that comes up where one was
    /// down.
    /// # Panics
    /// When the port cannot be bound.
    #[allow(clippy::expect_used)]
    pub fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind a loopback port");
        let address = listener.local_addr().expect("its address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new((200, Vec::new(), Duration::ZERO)));
        let (store, answer) = (received.clone(), reply.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (store, answer) = (store.clone(), answer.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &store, &answer);
                });
            }
        });
        Self {
            address,
            received,
            reply,
        }
    }

    /// Answers every request from now on with `status` and `headers`.
    pub fn reply_with(&self, status: u16, headers: &[(&str, &str)]) {
        let mut reply = self
            .reply
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reply.0 = status;
        reply.1 = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// Answers every request from now on only after `delay` (kept, then held).
    pub fn reply_after(&self, delay: Duration) {
        self.reply
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .2 = delay;
    }

    /// `http://127.0.0.1:port`
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Posted> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `within` until `done` holds for what was received, and returns it.
    pub fn wait_for(&self, within: Duration, done: impl Fn(&[Posted]) -> bool) -> Vec<Posted> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if done(&got) || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(
    stream: TcpStream,
    store: &Mutex<Vec<Posted>>,
    reply: &Mutex<Reply>,
) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Posted {
                path,
                headers,
                body,
            });
        let (status, extra, delay) = reply
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut head = format!("HTTP/1.1 {status} Status\r\ncontent-length: 2\r\n");
        for (name, value) in extra {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\nok");
        writer.write_all(head.as_bytes())?;
    }
}

/// The JSON items of Sentry envelopes (one per line after the headers): the reported events.
pub fn sentry_events(posted: &[Posted]) -> Vec<serde_json::Value> {
    posted
        .iter()
        .filter(|p| p.path.ends_with("/envelope/"))
        .flat_map(|p| {
            let body = String::from_utf8_lossy(&p.body).into_owned();
            body.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        // The event itself (the envelope's and the item's headers have no `platform`).
        .filter(|v| v.get("platform").is_some() && v.get("event_id").is_some())
        .collect()
}
