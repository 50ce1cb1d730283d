//! For unit tests (this crate's, and with the `fake-sc` feature those of the crates built
//! on it): one connection of a scripted SC of the object API.

use protocol::sc::{ScRequest, ScResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answer each request on `conn` with what `answer` gives it, until the peer leaves or
/// `answer` gives `None` (as an SC closes the connection on what it cannot decode).
pub async fn serve(mut conn: TcpStream, answer: impl Fn(ScRequest) -> Option<ScResponse>) {
    loop {
        let Ok(size) = conn.read_i32().await else {
            return;
        };
        let mut frame = vec![0; size as usize];
        if conn.read_exact(&mut frame).await.is_err() {
            return;
        }
        let (header, request) = ScRequest::decode_frame(&frame).unwrap();
        let Some(response) = answer(request) else {
            return;
        };
        let bytes = response
            .to_frame(header.correlation_id, header.api_version)
            .unwrap();
        if conn.write_all(&bytes).await.is_err() {
            return;
        }
    }
}
