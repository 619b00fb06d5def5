//! One connection's session, sans-IO: login, roles, heartbeats, the login deadline and the idle
//! timeout. The gateway tells it what arrived, what was sent and what time it is (`handle_*`); it
//! answers what to do (`admit`, `poll_timer`). It owns no socket and reads no clock, so it is
//! tested without either, the way quinn-proto tests its connection.

use std::time::{Duration, Instant};

use sluice_protocol::{
    Heartbeat, Login, Logout, Message, ReasonCode, Role, may_send, template_name,
};

use crate::auth::Keys;

/// The session timers (from `[server]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Send a Heartbeat when nothing was written for this long.
    pub heartbeat_every: Duration,
    /// Close a session from which nothing arrived for this long.
    pub idle_timeout: Duration,
    /// Close a connection that has not logged in within this long.
    pub login_timeout: Duration,
}

/// Who a logged-in session acts as, and with which key's secret it logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub id: u64,
    pub role: Role,
    pub principal: u32,
    /// The key id (NUL-padded): a revoked key's sessions are closed.
    pub key_id: [u8; 16],
    /// The key's secret generation it logged in with: closed when that secret rotates out.
    pub generation: u32,
}

/// What to do with a whole frame, once its SBE header is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A Login before login: authenticate it (`handle_login`).
    Login,
    /// Anything else before login: `Reject(NotLoggedIn)`, then close.
    NotLoggedIn,
    /// A second Login: `Reject(AlreadyLoggedIn)`; the session stays open.
    AlreadyLoggedIn,
    /// A Heartbeat: nothing to do (its arrival was noted).
    Heartbeat,
    /// A Logout: answer `Logout(None)`, then close.
    Logout,
    /// A request for the sequencer, from this identity (its role still to be checked).
    Request(Identity),
}

/// What the timers ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// No login in time: `Logout(NotLoggedIn)`, then close.
    LoginDeadline,
    /// Nothing arrived for too long: `Logout(HeartbeatTimeout)`, then close.
    IdleTimeout,
    /// Nothing was written for a while: send a Heartbeat.
    Heartbeat,
}

impl TimerAction {
    /// The Logout reason and text of a closing action (None for a heartbeat).
    pub fn logout(self) -> Option<(ReasonCode, &'static str)> {
        match self {
            TimerAction::LoginDeadline => Some((ReasonCode::NotLoggedIn, "no login in time")),
            TimerAction::IdleTimeout => Some((ReasonCode::HeartbeatTimeout, "idle too long")),
            TimerAction::Heartbeat => None,
        }
    }
}

/// Why a Login was refused (every credential failure looks the same to the peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRefused {
    pub reason: ReasonCode,
    pub text: &'static str,
}

/// One connection's session state.
#[derive(Debug, Clone)]
pub struct Session {
    identity: Option<Identity>,
    opened: Instant,
    last_recv: Instant,
    last_send: Instant,
}

impl Session {
    /// A connection accepted at `now`, not logged in.
    pub fn new(now: Instant) -> Session {
        Session {
            identity: None,
            opened: now,
            last_recv: now,
            last_send: now,
        }
    }

    pub fn identity(&self) -> Option<Identity> {
        self.identity
    }

    /// Bytes arrived at `now`.
    pub fn handle_received(&mut self, now: Instant) {
        self.last_recv = now;
    }

    /// Bytes were written at `now`.
    pub fn handle_sent(&mut self, now: Instant) {
        self.last_send = now;
    }

    /// What to do with a frame of `template`. Before login only a Login is admitted: the login
    /// check comes before any template check (docs/PROTOCOL.md, section 3).
    pub fn admit(&self, template: u16) -> Admission {
        match (self.identity, template) {
            (None, Login::TEMPLATE_ID) => Admission::Login,
            (None, _) => Admission::NotLoggedIn,
            (Some(_), Login::TEMPLATE_ID) => Admission::AlreadyLoggedIn,
            (Some(_), Heartbeat::TEMPLATE_ID) => Admission::Heartbeat,
            (Some(_), Logout::TEMPLATE_ID) => Admission::Logout,
            (Some(identity), _) => Admission::Request(identity),
        }
    }

    /// Authenticates a Login against the keys at event time `now_ns`; on success the session acts
    /// as the key's principal under session id `id`.
    pub fn handle_login(
        &mut self,
        login: &Login,
        keys: &Keys,
        id: u64,
        now_ns: u64,
    ) -> Result<Identity, LoginRefused> {
        assert!(
            self.identity.is_none(),
            "admit() routes a second Login elsewhere"
        );
        let key_id = login.key_id.as_str();
        let secret = login.secret.as_str();
        let refused = LoginRefused {
            reason: ReasonCode::BadCredentials,
            text: "unknown key, wrong secret or role",
        };
        let auth = keys
            .authenticate(&key_id, login.role, &secret, now_ns)
            .ok_or(refused)?;
        let identity = Identity {
            id,
            role: auth.role,
            principal: auth.principal_id,
            key_id: login.key_id.0,
            generation: auth.generation,
        };
        self.identity = Some(identity);
        Ok(identity)
    }

    /// What the timers ask for at `now`; `write_idle` is whether nothing is waiting to be written
    /// (a heartbeat is only sent on an idle line). Login deadline first, then the idle timeout,
    /// then the heartbeat.
    pub fn poll_timer(
        &self,
        now: Instant,
        timers: &Timers,
        write_idle: bool,
    ) -> Option<TimerAction> {
        let since = |t: Instant| now.saturating_duration_since(t);
        if self.identity.is_none() && since(self.opened) > timers.login_timeout {
            return Some(TimerAction::LoginDeadline);
        }
        if since(self.last_recv) > timers.idle_timeout {
            return Some(TimerAction::IdleTimeout);
        }
        let heartbeat_due = since(self.last_send) > timers.heartbeat_every;
        (self.identity.is_some() && heartbeat_due && write_idle).then_some(TimerAction::Heartbeat)
    }
}

/// Whether a logged-in `role` may send `template`: `Ok`, or the Reject reason — RoleNotAllowed for
/// a defined template (server messages and the sequencer's 90 and 91 included), UnknownTemplate
/// for an undefined one.
pub fn check_role(role: Role, template: u16) -> Result<(), ReasonCode> {
    if may_send(role, template) {
        Ok(())
    } else if template_name(template).is_some() {
        Err(ReasonCode::RoleNotAllowed)
    } else {
        Err(ReasonCode::UnknownTemplate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::credentials::hex_chars;
    use sluice_protocol::{Chars, PaymentRequest, Pulse, QueryOrder};

    const TIMERS: Timers = Timers {
        heartbeat_every: Duration::from_millis(1_000),
        idle_timeout: Duration::from_millis(10_000),
        login_timeout: Duration::from_millis(5_000),
    };

    /// An acquirer key "acq" (principal 7) and an admin key "adm" (principal 1).
    fn credentials() -> Keys {
        let mut keys = Keys::default();
        for (key, role, principal, secret) in [
            ("acq", Role::Acquirer, 7, "s3cret"),
            ("adm", Role::Admin, 1, "admin-secret"),
        ] {
            let salt = [principal as u8; 16];
            let update = sluice_protocol::CredentialUpdate {
                key_id: Chars::new(key),
                status: sluice_protocol::Activity::Active,
                role,
                principal_id: principal,
                generation: 1,
                algorithm: sluice_protocol::SecretHash::HmacSha256,
                salt: hex_chars(&salt),
                hash: hex_chars(&crate::auth::keyed_hash(&salt, key, secret)),
                previous_algorithm: sluice_protocol::SecretHash::HmacSha256,
                previous_salt: Chars::default(),
                previous_hash: Chars::default(),
                previous_until_ns: 0,
                sequence: 1,
            };
            keys.apply(&update).expect("a readable update");
        }
        keys
    }

    fn login(key_id: &str, role: Role, secret: &str) -> Login {
        Login {
            role,
            key_id: Chars::new(key_id),
            secret: Chars::new(secret),
            ..Default::default()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn only_a_login_is_admitted_before_login_whatever_the_template() {
        let t0 = Instant::now();
        let s = Session::new(t0);
        assert_eq!(s.admit(Login::TEMPLATE_ID), Admission::Login);
        for template in [
            Heartbeat::TEMPLATE_ID,
            Logout::TEMPLATE_ID,
            PaymentRequest::TEMPLATE_ID,
            Pulse::TEMPLATE_ID,
            9_999, // undefined: NotLoggedIn wins over UnknownTemplate
        ] {
            assert_eq!(s.admit(template), Admission::NotLoggedIn, "{template}");
        }
    }

    #[test]
    fn a_login_with_the_right_secret_and_role_opens_the_session() {
        let mut s = Session::new(Instant::now());
        let identity = s
            .handle_login(
                &login("acq", Role::Acquirer, "s3cret"),
                &credentials(),
                42,
                0,
            )
            .expect("login");
        assert_eq!(
            identity,
            Identity {
                id: 42,
                role: Role::Acquirer,
                principal: 7,
                key_id: Chars::<16>::new("acq").0,
                generation: 1,
            }
        );
        assert_eq!(s.identity(), Some(identity));
        assert_eq!(s.admit(Login::TEMPLATE_ID), Admission::AlreadyLoggedIn);
        assert_eq!(s.admit(Heartbeat::TEMPLATE_ID), Admission::Heartbeat);
        assert_eq!(s.admit(Logout::TEMPLATE_ID), Admission::Logout);
        assert_eq!(
            s.admit(PaymentRequest::TEMPLATE_ID),
            Admission::Request(identity)
        );
    }

    #[test]
    fn every_credential_failure_is_refused_alike_and_leaves_the_session_closed() {
        let refused = LoginRefused {
            reason: ReasonCode::BadCredentials,
            text: "unknown key, wrong secret or role",
        };
        for attempt in [
            login("acq", Role::Acquirer, "wrong"),
            login("acq", Role::Admin, "s3cret"),
            login("nobody", Role::Acquirer, "s3cret"),
            login("", Role::Acquirer, ""),
        ] {
            let mut s = Session::new(Instant::now());
            assert_eq!(s.handle_login(&attempt, &credentials(), 1, 0), Err(refused));
            assert_eq!(s.identity(), None);
            assert_eq!(s.admit(PaymentRequest::TEMPLATE_ID), Admission::NotLoggedIn);
        }
    }

    #[test]
    fn the_login_deadline_closes_a_connection_that_never_logs_in() {
        let t0 = Instant::now();
        let mut s = Session::new(t0);
        assert_eq!(s.poll_timer(t0 + ms(4_999), &TIMERS, true), None);
        // Bytes arriving do not extend the login deadline.
        s.handle_received(t0 + ms(4_000));
        assert_eq!(
            s.poll_timer(t0 + ms(5_001), &TIMERS, true),
            Some(TimerAction::LoginDeadline)
        );
        let logged_in = {
            let mut s = Session::new(t0);
            s.handle_login(
                &login("adm", Role::Admin, "admin-secret"),
                &credentials(),
                1,
                0,
            )
            .expect("login");
            s.handle_sent(t0 + ms(5_000));
            s
        };
        assert_eq!(logged_in.poll_timer(t0 + ms(5_001), &TIMERS, true), None);
    }

    #[test]
    fn a_session_silent_for_the_idle_timeout_is_closed() {
        let t0 = Instant::now();
        let mut s = Session::new(t0);
        s.handle_login(
            &login("acq", Role::Acquirer, "s3cret"),
            &credentials(),
            1,
            0,
        )
        .expect("login");
        s.handle_received(t0 + ms(3_000));
        s.handle_sent(t0 + ms(12_900));
        assert_eq!(s.poll_timer(t0 + ms(13_000), &TIMERS, true), None);
        assert_eq!(
            s.poll_timer(t0 + ms(13_001), &TIMERS, true),
            Some(TimerAction::IdleTimeout)
        );
        assert_eq!(
            TimerAction::IdleTimeout.logout(),
            Some((ReasonCode::HeartbeatTimeout, "idle too long"))
        );
    }

    #[test]
    fn heartbeats_go_only_to_logged_in_sessions_on_an_idle_line() {
        let t0 = Instant::now();
        let mut s = Session::new(t0);
        // Not logged in: no heartbeat, however long nothing was sent.
        assert_eq!(s.poll_timer(t0 + ms(2_000), &TIMERS, true), None);
        s.handle_login(
            &login("acq", Role::Acquirer, "s3cret"),
            &credentials(),
            1,
            0,
        )
        .expect("login");
        s.handle_received(t0 + ms(2_000));
        assert_eq!(
            s.poll_timer(t0 + ms(2_000), &TIMERS, true),
            Some(TimerAction::Heartbeat)
        );
        assert_eq!(
            s.poll_timer(t0 + ms(2_000), &TIMERS, false),
            None,
            "line busy"
        );
        s.handle_sent(t0 + ms(2_000));
        assert_eq!(s.poll_timer(t0 + ms(2_900), &TIMERS, true), None);
        assert_eq!(
            s.poll_timer(t0 + ms(3_001), &TIMERS, true),
            Some(TimerAction::Heartbeat)
        );
        assert_eq!(TimerAction::Heartbeat.logout(), None);
    }

    #[test]
    fn roles_decide_what_a_session_may_send() {
        assert_eq!(
            check_role(Role::Acquirer, PaymentRequest::TEMPLATE_ID),
            Ok(())
        );
        assert_eq!(check_role(Role::Admin, QueryOrder::TEMPLATE_ID), Ok(()));
        assert_eq!(
            check_role(Role::Channel, PaymentRequest::TEMPLATE_ID),
            Err(ReasonCode::RoleNotAllowed)
        );
        assert_eq!(
            check_role(Role::Admin, Pulse::TEMPLATE_ID),
            Err(ReasonCode::RoleNotAllowed),
            "only the sequencer pulses"
        );
        assert_eq!(
            check_role(Role::Acquirer, 9_999),
            Err(ReasonCode::UnknownTemplate)
        );
    }
}
