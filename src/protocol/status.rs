//! SyncML status codes: one table, from OMA DS 1.2 RepPro ("Response Status
//! Codes"), as mirrored by libsynthesis, pysyncml and Horde. The engine only
//! ever names codes through these constants.

use std::fmt;

/// A SyncML status code (the `Data` of a `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StatusCode(pub u16);

macro_rules! status_codes {
    ($($name:ident($code:literal) $text:literal;)*) => {
        impl StatusCode {
            $(
                #[doc = $text]
                pub const $name: StatusCode = StatusCode($code);
            )*

            /// The specification's short description of this code.
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($code => $text,)*
                    _ => "unknown status",
                }
            }
        }
    };
}

status_codes! {
    IN_PROGRESS(101) "In progress";
    OK(200) "OK";
    ITEM_ADDED(201) "Item added";
    ACCEPTED(202) "Accepted for processing";
    NON_AUTHORITATIVE(203) "Non-authoritative response";
    NO_CONTENT(204) "No content";
    RESET_CONTENT(205) "Reset content";
    PARTIAL_CONTENT(206) "Partial content";
    CONFLICT_MERGED(207) "Conflict resolved with merge";
    CONFLICT_CLIENT_WON(208) "Conflict resolved with client's command winning";
    CONFLICT_DUPLICATED(209) "Conflict resolved with duplicate";
    DELETE_WITHOUT_ARCHIVE(210) "Delete without archive";
    ITEM_NOT_DELETED(211) "Item not deleted";
    AUTH_ACCEPTED(212) "Authentication accepted";
    CHUNK_ACCEPTED(213) "Chunked item accepted and buffered";
    OPERATION_CANCELLED(214) "Operation cancelled";
    NOT_EXECUTED(215) "Not executed";
    ATOMIC_ROLLBACK_OK(216) "Atomic roll back OK";
    BAD_REQUEST(400) "Bad request";
    INVALID_CREDENTIALS(401) "Invalid credentials";
    PAYMENT_REQUIRED(402) "Payment required";
    FORBIDDEN(403) "Forbidden";
    NOT_FOUND(404) "Not found";
    COMMAND_NOT_ALLOWED(405) "Command not allowed";
    OPTIONAL_FEATURE_NOT_SUPPORTED(406) "Optional feature not supported";
    MISSING_CREDENTIALS(407) "Missing credentials";
    REQUEST_TIMEOUT(408) "Request timeout";
    CONFLICT(409) "Conflict";
    GONE(410) "Gone";
    SIZE_REQUIRED(411) "Size required";
    INCOMPLETE_COMMAND(412) "Incomplete command";
    REQUEST_ENTITY_TOO_LARGE(413) "Request entity too large";
    URI_TOO_LONG(414) "URI too long";
    UNSUPPORTED_MEDIA_TYPE(415) "Unsupported media type or format";
    REQUESTED_SIZE_TOO_BIG(416) "Requested size too big";
    RETRY_LATER(417) "Retry later";
    ALREADY_EXISTS(418) "Already exists";
    CONFLICT_SERVER_WON(419) "Conflict resolved with server data";
    DEVICE_FULL(420) "Device full";
    UNKNOWN_SEARCH_GRAMMAR(421) "Unknown search grammar";
    BAD_CGI_SCRIPT(422) "Bad CGI script";
    SOFT_DELETE_CONFLICT(423) "Soft-delete conflict";
    SIZE_MISMATCH(424) "Size mismatch";
    PERMISSION_DENIED(425) "Permission denied";
    PARTIAL_ITEM_NOT_ACCEPTED(426) "Partial item not accepted";
    ITEM_NOT_EMPTY(427) "Item not empty";
    MOVE_FAILED(428) "Move failed";
    COMMAND_FAILED(500) "Command failed";
    NOT_IMPLEMENTED(501) "Command not implemented";
    BAD_GATEWAY(502) "Bad gateway";
    SERVICE_UNAVAILABLE(503) "Service unavailable";
    GATEWAY_TIMEOUT(504) "Gateway timeout";
    DTD_VERSION_NOT_SUPPORTED(505) "DTD version not supported";
    PROCESSING_ERROR(506) "Processing error";
    ATOMIC_FAILED(507) "Atomic failed";
    REFRESH_REQUIRED(508) "Refresh required";
    RESERVED_509(509) "Reserved (libsynthesis: cannot resume)";
    DATA_STORE_FAILURE(510) "Data store failure";
    SERVER_FAILURE(511) "Server failure";
    SYNC_FAILED(512) "Synchronization failed";
    PROTOCOL_VERSION_NOT_SUPPORTED(513) "Protocol version not supported";
    OPERATION_CANCELLED_514(514) "Operation cancelled";
    ATOMIC_ROLLBACK_FAILED(516) "Atomic roll back failed";
    ATOMIC_RESPONSE_TOO_LARGE(517) "Atomic response too large to fit";
}

impl StatusCode {
    /// 2xx: the command succeeded.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_codes() {
        assert_eq!(StatusCode::REFRESH_REQUIRED.0, 508);
        assert_eq!(
            StatusCode(419).description(),
            "Conflict resolved with server data"
        );
        assert_eq!(StatusCode(299).description(), "unknown status");
        assert!(StatusCode::CHUNK_ACCEPTED.is_success());
        assert!(!StatusCode::INVALID_CREDENTIALS.is_success());
    }
}
