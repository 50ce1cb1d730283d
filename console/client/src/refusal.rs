//! What the client says when an SPU refuses it with `PermissionDenied`, whose answers carry
//! no text: the principal the SPU took the connection for (asked with WhoAmI, an api of
//! ours), the action and the object, in the words the SC uses for its own refusals.

use protocol::api::{ApiRequest, spu_keys};
use protocol::spu::WhoAmIRequest;

use crate::socket::Socket;

/// "principal 'reader' may not produce to topic 'a'", or `None` when the SPU does not say
/// who the connection is (an SPU without WhoAmI): the error code alone says enough then.
pub(crate) async fn denied(socket: &Socket, action: &str, topic: &str) -> Option<String> {
    let version = WhoAmIRequest::VERSION;
    let reply = socket
        .request(spu_keys::WHO_AM_I, version, &WhoAmIRequest {})
        .await
        .ok()?;
    let who = WhoAmIRequest::decode_response(&reply, version).ok()?;
    Some(format!(
        "principal '{}' may not {action} topic '{topic}'",
        who.principal
    ))
}
