//! The SyncHdr: protocol version, authentication, device admission.
//!
//! The header's Status is always the first of the reply (CmdRef 0). Until a
//! session is authenticated every message must carry Cred; on success the
//! answer is 212 with a Chal carrying the nonce for the *next* session
//! (libsynthesis does the same), on failure 401 (bad) or 407 (missing) with a
//! fresh Chal, and every command of the message gets the same code.

use crate::auth::{self, Presented, Scheme, Verdict as AuthVerdict};
use crate::engine::{ConflictPolicy, EngineError, Env};
use crate::protocol::{Chal, Item, ItemData, Meta, Status, StatusCode, SyncMl};
use crate::store::Txn;
use crate::store::schema::{self, DeviceRecord};

use super::{Replies, ServerEngine, ServerSession};

pub(super) enum Verdict {
    Proceed,
    /// Answer every command with `code` and end the session.
    Refuse {
        code: StatusCode,
    },
}

/// Protocol versions we speak: (VerProto, VerDTD).
/// How stale a device's stored `last_seen_ms` may get before a session
/// rewrites it.
pub const LAST_SEEN_GRANULARITY_MS: u64 = 60_000;

const VERSIONS: [(&str, &str); 2] = [("SyncML/1.2", "1.2"), ("SyncML/1.1", "1.1")];

pub(super) fn check(
    engine: &ServerEngine,
    s: &mut ServerSession,
    msg: &SyncMl,
    env: &Env,
    txn: &mut Txn<'_>,
    r: &mut Replies,
) -> Result<Verdict, EngineError> {
    let h = &msg.header;
    let mut st = Status {
        msg_ref: h.msg_id,
        cmd_ref: 0,
        cmd: "SyncHdr".into(),
        target_refs: vec![h.target.loc_uri.clone()],
        source_refs: vec![h.source.loc_uri.clone()],
        ..Status::default()
    };

    // Version: an unknown VerProto is 513 (with the versions we speak), a
    // VerDTD that doesn't belong to it 505.
    match VERSIONS
        .iter()
        .find(|(proto, _)| proto.eq_ignore_ascii_case(h.ver_proto.trim()))
    {
        None => {
            st.data = StatusCode::PROTOCOL_VERSION_NOT_SUPPORTED;
            st.items = vec![Item {
                data: Some(ItemData::Text("SyncML/1.2, SyncML/1.1".into())),
                ..Item::default()
            }];
            return Ok(refuse(r, st));
        }
        Some((_, dtd)) if *dtd != h.ver_dtd.trim() => {
            st.data = StatusCode::DTD_VERSION_NOT_SUPPORTED;
            return Ok(refuse(r, st));
        }
        Some(_) => {}
    }
    if h.source.loc_uri.is_empty() || h.source.loc_uri.len() > 1024 {
        st.data = StatusCode::BAD_REQUEST;
        return Ok(refuse(r, st));
    }
    if h.source.loc_uri != s.device {
        // A session belongs to one device.
        st.data = StatusCode::FORBIDDEN;
        return Ok(refuse(r, st));
    }

    if s.user.is_some() {
        st.data = StatusCode::OK;
        r.statuses.push(st);
        return Ok(Verdict::Proceed);
    }

    let claimed = h.source.loc_name.as_deref().filter(|n| !n.is_empty());
    // Nonces are only stored for users that exist, so unauthenticated
    // requests can't grow the store with made-up names.
    let claimed_known = match claimed {
        Some(u) if schema::user(txn, u)?.is_some() => Some(u),
        _ => None,
    };
    let Some(cred) = &h.cred else {
        st.data = StatusCode::MISSING_CREDENTIALS;
        st.chal = challenge(engine, None, claimed_known, &s.device, env, txn);
        return Ok(refuse(r, st));
    };
    let type_ = cred.meta.as_ref().and_then(|m| m.type_.as_deref());
    let scheme = match type_ {
        None => Some(Scheme::Basic),
        Some(t) => Scheme::from_cred_type(t),
    };
    let Some(scheme) = scheme.filter(|sc| engine.cfg.schemes.contains(sc)) else {
        // Unknown type → 406; a known type this server doesn't accept → 401.
        st.data = if scheme.is_none() {
            StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED
        } else {
            StatusCode::INVALID_CREDENTIALS
        };
        st.chal = challenge(engine, None, claimed_known, &s.device, env, txn);
        return Ok(refuse(r, st));
    };

    // The user whose records we check: from the credential for basic, from
    // LocName for the digest schemes.
    let lookup_user = match scheme {
        Scheme::Basic => auth::parse_basic(&cred.data).ok().map(|(u, _)| u),
        _ => claimed.map(str::to_owned),
    };
    if let (Scheme::Basic, Some(name), Some(basic_user)) = (scheme, claimed, lookup_user.as_deref())
        && name != basic_user
    {
        st.data = StatusCode::INVALID_CREDENTIALS;
        st.chal = challenge(engine, Some(scheme), claimed_known, &s.device, env, txn);
        return Ok(fail(s, r, st));
    }
    let user_rec = match &lookup_user {
        Some(u) => schema::user(txn, u)?,
        None => None,
    };
    let device_rec = match &lookup_user {
        Some(u) => schema::device(txn, u, &s.device)?,
        None => None,
    };
    let nonce = match &lookup_user {
        Some(u) => schema::nonce(txn, u, &s.device)?,
        None => None,
    };
    let presented = Presented {
        scheme,
        format: cred.meta.as_ref().and_then(|m| m.format.as_deref()),
        data: &cred.data,
        claimed_user: lookup_user.as_deref(),
        device_id: &s.device,
        session_id: &h.session_id,
        msg_id: h.msg_id,
    };
    let device_key = device_rec.as_ref().and_then(|d| d.secret_key.as_deref());
    match auth::verify(&presented, user_rec.as_ref(), device_key, nonce.as_deref()) {
        AuthVerdict::Rejected(err) => {
            tracing::info!(device = %s.device, ?scheme, reason = %err, "authentication failed");
            st.data = match err {
                auth::AuthError::UnsupportedFormat => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::INVALID_CREDENTIALS,
            };
            let known = lookup_user.as_deref().filter(|_| user_rec.is_some());
            st.chal = challenge(engine, Some(scheme), known, &s.device, env, txn);
            Ok(fail(s, r, st))
        }
        AuthVerdict::Accepted { user } => {
            let Some(user_rec) = user_rec else {
                st.data = StatusCode::INVALID_CREDENTIALS;
                return Ok(fail(s, r, st));
            };
            let registered = device_rec.as_ref().map(|d| d.registered).unwrap_or(false);
            if (engine.cfg.require_registered_devices || user_rec.restrict_devices) && !registered {
                tracing::info!(device = %s.device, %user, "device not registered for this user");
                st.data = StatusCode::FORBIDDEN;
                return Ok(refuse(r, st));
            }
            // Admitted: remember the device, rotate the nonce.
            let known_device = device_rec.is_some();
            let mut dev = device_rec.unwrap_or_else(|| DeviceRecord {
                first_seen_ms: env.now_ms,
                ..DeviceRecord::default()
            });
            // last_seen is for display: rewritten at most once a minute, so
            // a device syncing often writes only its next nonce here (one
            // key, no multi-table transaction).
            if !known_device
                || env.now_ms.saturating_sub(dev.last_seen_ms) >= LAST_SEEN_GRANULARITY_MS
                || env.now_ms < dev.last_seen_ms
            {
                dev.last_seen_ms = env.now_ms;
                schema::put_device(txn, &user, &s.device, &dev);
            }
            st.data = StatusCode::AUTH_ACCEPTED;
            st.chal = challenge(engine, Some(scheme), Some(&user), &s.device, env, txn);
            s.user = Some(user.clone());
            s.report.user = Some(user);
            s.policy = dev
                .conflict_policy
                .as_deref()
                .and_then(ConflictPolicy::parse);
            if s.caps.is_none() {
                s.caps = dev.caps;
            }
            r.statuses.push(st);
            Ok(Verdict::Proceed)
        }
    }
}

fn refuse(r: &mut Replies, st: Status) -> Verdict {
    let code = st.data;
    r.statuses.push(st);
    Verdict::Refuse { code }
}

fn fail(s: &mut ServerSession, r: &mut Replies, st: Status) -> Verdict {
    s.report.auth_failed = true;
    refuse(r, st)
}

/// A Chal for the next attempt. For nonce schemes a fresh nonce is issued
/// and stored per (user, device) — per device, not per HTTP session,
/// because clients retry in a new session. `user` must be an existing user.
fn challenge(
    engine: &ServerEngine,
    used: Option<Scheme>,
    user: Option<&str>,
    device: &str,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Option<Chal> {
    let allowed = &engine.cfg.schemes;
    let nonce_based = |s: &Scheme| matches!(s, Scheme::Md5 | Scheme::Hmac);
    // Challenge with the scheme the client used when it is nonce based;
    // else steer it to the first nonce scheme we accept (as SyncEvolution's
    // server steers basic clients to md5); else basic.
    let scheme = used
        .filter(|s| nonce_based(s) && allowed.contains(s))
        .or_else(|| allowed.iter().copied().find(nonce_based))
        .or_else(|| allowed.first().copied())?;
    let mut meta = Meta {
        format: Some("b64".into()),
        type_: Some(scheme.cred_type().into()),
        ..Meta::default()
    };
    if nonce_based(&scheme) {
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&env.random[16..32]);
        let nonce = auth::new_nonce(seed);
        if let Some(u) = user {
            schema::put_nonce(txn, u, device, &nonce);
        }
        meta.next_nonce = Some(auth::nonce_b64(&nonce));
    }
    Some(Chal { meta })
}
