//! Server Alerted Notification (OMA DS 1.2 "package 0"): the server asks a
//! client to start a session. The binary encoding lives in `wire::san`.

/// One datastore the server wants synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanSync {
    /// 206–210 (server-alerted two-way … refresh from server).
    pub sync_type: u16,
    /// OMNA content-type code (24 bits); 0 = not specified.
    pub content_type: u32,
    /// The server's datastore URI.
    pub server_uri: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiMode {
    NotSpecified = 0,
    Background = 1,
    Informative = 2,
    UserInteraction = 3,
}

/// A whole notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct San {
    /// MD5(B64(MD5(server-id:password)):nonce:B64(MD5(notification))).
    pub digest: [u8; 16],
    /// Protocol version × 10 (12 for DS 1.2).
    pub version: u16,
    pub ui_mode: UiMode,
    /// True: the server initiated it (false: a user did).
    pub server_initiated: bool,
    pub session_id: u16,
    pub server_id: String,
    /// Empty: sync every datastore.
    pub syncs: Vec<SanSync>,
}

/// The session mode a client runs for a server-alerted code.
pub fn client_mode_for(sync_type: u16) -> Option<u16> {
    match sync_type {
        206 => Some(super::alert::TWO_WAY),
        207 => Some(super::alert::ONE_WAY_FROM_CLIENT),
        208 => Some(super::alert::REFRESH_FROM_CLIENT),
        209 => Some(super::alert::ONE_WAY_FROM_SERVER),
        210 => Some(super::alert::REFRESH_FROM_SERVER),
        _ => None,
    }
}
