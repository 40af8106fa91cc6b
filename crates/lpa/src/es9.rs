//! ES9+ calls (SGP.22 §6.5): JSON in, JSON out, function execution status checked.

use serde::de::DeserializeOwned;
use serde::Serialize;

use rsp::es9p::{self, Response};

use crate::{Es9Transport, LpaError, Result};

/// A function name for errors, from its path (`/gsma/rsp2/es9plus/authenticateClient`).
fn function_of(path: &'static str) -> &'static str {
    path.rsplit('/').next().unwrap_or(path)
}

fn failed(s: es9p::StatusCodeData) -> LpaError {
    LpaError::Es9 {
        subject_code: s.subject_code,
        reason_code: s.reason_code,
        message: s.message,
    }
}

/// POSTs `request` to `path` at `smdp_address` and returns the output data of an executed
/// function. HTTP 200 with a JSON body is required (SGP.22 §6.5.1); a `Failed`/`Expired`
/// status becomes [`LpaError::Es9`].
pub(crate) async fn call<E, Q, R>(
    es9: &E,
    smdp_address: &str,
    path: &'static str,
    request: &Q,
) -> Result<R>
where
    E: Es9Transport,
    Q: Serialize,
    R: DeserializeOwned,
{
    let function = function_of(path);
    let (status, body) = es9.post(smdp_address, path, es9p::to_json(request)).await?;
    if status != 200 {
        return Err(LpaError::Http { function, status });
    }
    let resp: Response<R> = es9p::response_from_json(&body).map_err(|e| LpaError::Json {
        function,
        detail: e.to_string(),
    })?;
    resp.into_result().map_err(failed)
}

/// ES9+.HandleNotification (SGP.22 §6.5.2.9): the SM-DP+ answers `204 No Content`. A 200 with a
/// JSON header is also accepted, unless it reports a failure.
pub(crate) async fn handle_notification<E: Es9Transport>(
    es9: &E,
    address: &str,
    pending: &[u8],
) -> Result<()> {
    let function = function_of(es9p::path::HANDLE_NOTIFICATION);
    let req = es9p::HandleNotificationRequest {
        pending_notification: pending.to_vec(),
    };
    let (status, body) = es9
        .post(
            address,
            es9p::path::HANDLE_NOTIFICATION,
            es9p::to_json(&req),
        )
        .await?;
    match status {
        204 => Ok(()),
        200 if body.iter().all(u8::is_ascii_whitespace) => Ok(()),
        200 => {
            let resp: Response<es9p::Empty> =
                es9p::response_from_json(&body).map_err(|e| LpaError::Json {
                    function,
                    detail: e.to_string(),
                })?;
            resp.into_result().map(|_| ()).map_err(failed)
        }
        status => Err(LpaError::Http { function, status }),
    }
}
