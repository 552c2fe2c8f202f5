//! A minimal HTTP/1.1 client over `std::net::TcpStream`, so tests control
//! exactly which bytes reach Envoy and when, plus HTTP/2 (h2c) through curl.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The maximum time a test waits for Envoy to send or finish a response.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// One parsed response, with the statuses of any 1xx responses before it.
#[derive(Debug)]
pub struct Response {
    pub interim_statuses: Vec<u16>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Returns the first value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Builds a request with `host` and `connection: close`. A `content-length`
/// is added unless `headers` already frame the body, or the request is a GET
/// or HEAD without a body.
pub fn request_bytes(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }

    let framed = headers.iter().any(|(name, _)| {
        name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
    });
    let bodiless_request = (method == "GET" || method == "HEAD") && body.is_empty();
    if !framed && !bodiless_request {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");

    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request
}

/// Opens a connection to 127.0.0.1:`port` with read and write timeouts.
pub fn connect(port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
    stream.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `request` on a new connection and reads one response.
pub fn exchange(port: u16, request: &[u8]) -> io::Result<Response> {
    let mut stream = connect(port)?;
    stream.write_all(request)?;
    read_response(&mut stream, request.starts_with(b"HEAD "))
}

/// Sends `parts` one after another with `pause` between them, then reads the
/// response.
pub fn exchange_in_parts(port: u16, parts: &[&[u8]], pause: Duration) -> io::Result<Response> {
    let mut stream = connect(port)?;
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            thread::sleep(pause);
        }
        stream.write_all(part)?;
        stream.flush()?;
    }
    read_response(&mut stream, false)
}

/// Reads one complete response and parses it.
///
/// A response to HEAD carries no framing for its (absent) body, so for HEAD
/// this reads until the server closes the connection, which Envoy does after
/// its delayed-close timeout (1 s by default). Any bytes after the head then
/// land in `body`. Other responses are read only until their body is complete.
pub fn read_response(stream: &mut TcpStream, head_request: bool) -> io::Result<Response> {
    if head_request {
        let bytes = read_until_closed(stream)?;
        return parse_response(&bytes, true);
    }

    let deadline = Instant::now() + RESPONSE_TIMEOUT;
    let mut received = Vec::new();
    let mut chunk = [0_u8; 8192];
    while !response_complete(&received) {
        if Instant::now() >= deadline || received.len() > MAX_RESPONSE_BYTES {
            return Err(timed_out(&received));
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) if is_timeout(&error) => return Err(timed_out(&received)),
            Err(error) => return Err(error),
        }
    }
    parse_response(&received, false)
}

/// Returns whether `bytes` contain a final (non-1xx) response whose body is
/// complete by its `content-length` or chunked framing.
fn response_complete(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    loop {
        let Some(head_end) = find_head_end(rest) else {
            return false;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end..];
        let Ok(status) = parse_status_line(&head) else {
            return false;
        };
        if (100..200).contains(&status) {
            continue;
        }
        if status == 204 || status == 304 {
            return true;
        }
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return rest.starts_with(b"0\r\n\r\n")
                || rest.windows(7).any(|w| w == b"\r\n0\r\n\r\n");
        }
        return match content_length(&head) {
            Some(length) => rest.len() >= length,
            None => false,
        };
    }
}

fn is_timeout(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock || error.kind() == io::ErrorKind::TimedOut
}

fn timed_out(received: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no complete response within {RESPONSE_TIMEOUT:?}; received so far: {:?}",
            String::from_utf8_lossy(received)
        ),
    )
}

/// Reads until end of file. Fails if that takes longer than `RESPONSE_TIMEOUT`.
pub fn read_until_closed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + RESPONSE_TIMEOUT;
    let mut received = Vec::new();
    let mut chunk = [0_u8; 8192];
    loop {
        if Instant::now() >= deadline || received.len() > MAX_RESPONSE_BYTES {
            return Err(timed_out(&received));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(received),
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) if is_timeout(&error) => return Err(timed_out(&received)),
            Err(error) => return Err(error),
        }
    }
}

/// Reads one response head (status line and headers, no body), one byte at a
/// time so nothing after it is consumed, and returns its status code.
pub fn read_head_status(stream: &mut TcpStream) -> io::Result<u16> {
    let deadline = Instant::now() + RESPONSE_TIMEOUT;
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while find_head_end(&head).is_none() {
        if Instant::now() >= deadline || head.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no complete response head; received {:?}",
                    String::from_utf8_lossy(&head)
                ),
            ));
        }
        if stream.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed inside a response head; received {:?}",
                    String::from_utf8_lossy(&head)
                ),
            ));
        }
        head.push(byte[0]);
    }
    parse_status_line(&String::from_utf8_lossy(&head))
}

/// Returns the index just past the blank line that ends a message head.
pub fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|position| position + 4)
}

/// Returns the `content-length` value from a message head.
pub fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

fn parse_status_line(head: &str) -> io::Result<u16> {
    let status_line = head.lines().next().unwrap_or_default();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("invalid status line: {status_line:?}"),
            )
        })
}

/// Parses a response, skipping any 1xx responses before it. For a response to
/// HEAD, `body` contains whatever bytes followed the head, which should be none.
pub fn parse_response(bytes: &[u8], head_request: bool) -> io::Result<Response> {
    let mut rest = bytes;
    let mut interim_statuses = Vec::new();
    loop {
        let head_end = find_head_end(rest).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "no complete response head in {:?}",
                    String::from_utf8_lossy(bytes)
                ),
            )
        })?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let status = parse_status_line(&head)?;
        rest = &rest[head_end..];
        if (100..200).contains(&status) {
            interim_statuses.push(status);
            continue;
        }

        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        let chunked = headers.iter().any(|(name, value)| {
            name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked")
        });
        let body = if head_request {
            rest.to_vec()
        } else if chunked {
            decode_chunked(rest)?
        } else if let Some(length) = content_length(&head) {
            rest[..length.min(rest.len())].to_vec()
        } else {
            rest.to_vec()
        };

        return Ok(Response {
            interim_statuses,
            status,
            headers,
            body,
        });
    }
}

fn decode_chunked(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let invalid = |message: &str| io::Error::new(io::ErrorKind::InvalidData, message.to_string());
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or_else(|| invalid("chunk size line without CRLF"))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| invalid("invalid chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(invalid("chunk shorter than its size"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Sends one request over HTTP/2 without TLS (h2c with prior knowledge) with
/// curl, and parses the response that curl prints.
pub fn curl_h2c(port: u16, method: &str, target: &str, body: &[u8]) -> io::Result<Response> {
    let url = format!("http://127.0.0.1:{port}{target}");
    let mut command = Command::new("curl");
    command
        .args([
            "--http2-prior-knowledge",
            "--silent",
            "--show-error",
            "--include",
        ])
        .args(["--max-time", "5", "--request", method]);
    if !body.is_empty() {
        command.args([
            "--data-binary",
            "@-",
            "--header",
            "content-type: application/json",
        ]);
    }
    let mut child = command
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| io::Error::new(error.kind(), format!("failed to run curl: {error}")))?;

    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body)?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "curl {url} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    parse_response(&output.stdout, method == "HEAD")
}
