//! Requests to replies, without sockets: the login and logout forms, the session check in front
//! of every page, and the pages. `server` turns hyper's requests into [`Req`] and [`Reply`] back.

use super::auth::{self, Authority, Sessions};
use super::data::Data;
use super::html::{esc, page};
use super::live::Live;
use super::pages::{self, Ctx};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a refused login is answered late (slows guessing down).
const REFUSED_DELAY: Duration = Duration::from_millis(400);

/// A request, as the routes need it.
#[derive(Debug, Default)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub cookie: Option<String>,
    pub body: Vec<u8>,
}

/// A reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub body: String,
}

impl Reply {
    fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            location: None,
            set_cookie: None,
            body,
        }
    }

    fn redirect(to: &str) -> Reply {
        Reply {
            status: 303,
            location: Some(to.to_string()),
            set_cookie: None,
            body: String::new(),
        }
    }
}

/// Everything the routes share.
pub struct App {
    pub data: Data,
    pub live: Arc<Live>,
    pub sessions: Sessions,
    pub authority: Arc<dyn Authority>,
}

/// `application/x-www-form-urlencoded` (and query strings) decoded: `+` is a space, `%XX` a byte.
pub fn form_value(encoded: &str, key: &str) -> Option<String> {
    encoded.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if hex(i + 1).is_some() && hex(i + 2).is_some() => {
                let (h, l) = (hex(i + 1).unwrap_or(0), hex(i + 2).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The login page, with a message when there is one.
pub fn login_page(status: u16, message: Option<&str>) -> Reply {
    let notice = message.map_or(String::new(), |m| {
        format!("<p class=\"error\" id=\"login-error\">{}</p>", esc(m))
    });
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in · Sluice \
         console</title><style>body{{font-family:system-ui,sans-serif;background:#f5f6f8}}\
         .login{{max-width:22em;margin:5em auto;background:#fff;padding:1.5em;border:1px solid #d6dbe1}}\
         input{{display:block;width:100%;margin:.3em 0 .8em;padding:.4em;box-sizing:border-box}}\
         .error{{color:#b3261e;font-weight:600}}</style></head><body><form class=\"login\" id=\"login\" \
         method=\"post\" action=\"/login\"><h1>Sluice console</h1><p>Log in with an admin key of the \
         server (the same key and secret as <code>sluice admin</code>).</p>{notice}\
         <label>Key id<input id=\"key\" name=\"key\" autocomplete=\"username\" required></label>\
         <label>Secret<input id=\"secret\" name=\"secret\" type=\"password\" \
         autocomplete=\"current-password\" required></label><button id=\"login-submit\" \
         type=\"submit\">Log in</button></form></body></html>"
    );
    Reply::html(status, body)
}

impl App {
    /// Answers one request.
    pub async fn handle(self: &Arc<App>, req: Req) -> Reply {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/login") => return login_page(200, None),
            ("POST", "/login") => return self.login(&req.body).await,
            ("POST", "/logout") => {
                if let Some(t) = req.cookie.as_deref().and_then(auth::token_from_cookies) {
                    self.sessions.close(t);
                }
                let mut r = Reply::redirect("/login");
                r.set_cookie = Some(auth::clear_cookie());
                return r;
            }
            _ => {}
        }
        let token = req.cookie.as_deref().and_then(auth::token_from_cookies);
        if token
            .and_then(|t| self.sessions.check(t, Instant::now()))
            .is_none()
        {
            return Reply::redirect("/login");
        }
        if req.method != "GET" {
            return Reply::html(
                405,
                page(
                    "Method not allowed",
                    "",
                    0,
                    "<p>Only GET is served here.</p>",
                ),
            );
        }
        let app = self.clone();
        let reply = tokio::task::spawn_blocking(move || app.page(&req)).await;
        reply.unwrap_or_else(|_| {
            Reply::html(
                500,
                page("Error", "", 0, "<p class=\"alert\">The page failed.</p>"),
            )
        })
    }

    fn page(&self, req: &Req) -> Reply {
        let ctx = Ctx {
            data: &self.data,
            live: &self.live,
        };
        match req.path.as_str() {
            "/" => Reply::html(
                200,
                page("Overview", "/", 3, &pages::overview::render(&ctx)),
            ),
            "/channels" => Reply::html(
                200,
                page("Channels", "/channels", 3, &pages::channels::render(&ctx)),
            ),
            "/risk" => Reply::html(200, page("Risk", "/risk", 0, &pages::risk::render(&ctx))),
            "/reports" => Reply::html(
                200,
                page("Reports", "/reports", 0, &pages::reports::render(&ctx)),
            ),
            "/reviews" => Reply::html(
                200,
                page("Reviews", "/reviews", 0, &pages::reviews::render(&ctx)),
            ),
            "/payouts" => Reply::html(
                200,
                page("Payouts", "/payouts", 0, &pages::payouts::render(&ctx)),
            ),
            "/finance" => Reply::html(
                200,
                page("Finance", "/finance", 0, &pages::finance::render(&ctx)),
            ),
            "/order" => {
                let id = form_value(&req.query, "id");
                let found = pages::order::render(&ctx, id.as_deref());
                Reply::html(found.status, page("Order search", "/order", 0, &found.body))
            }
            other => Reply::html(
                404,
                page(
                    "Not found",
                    "",
                    0,
                    &format!("<p>No page {}.</p>", esc(other)),
                ),
            ),
        }
    }

    async fn login(&self, body: &[u8]) -> Reply {
        let form = String::from_utf8_lossy(body);
        let key = form_value(&form, "key").unwrap_or_default();
        let secret = form_value(&form, "secret").unwrap_or_default();
        if key.is_empty() || secret.is_empty() {
            return login_page(400, Some("Give both the key id and the secret."));
        }
        let authority = self.authority.clone();
        let k = key.clone();
        let verdict = tokio::task::spawn_blocking(move || authority.check(&k, &secret)).await;
        match verdict {
            Ok(Ok(Ok(()))) => match self.sessions.open(&key, Instant::now()) {
                Ok(token) => {
                    let mut r = Reply::redirect("/");
                    r.set_cookie = Some(auth::set_cookie(&token, self.sessions.ttl()));
                    r
                }
                Err(e) => login_page(500, Some(&format!("No session could be opened: {e}"))),
            },
            Ok(Ok(Err(why))) => {
                tokio::time::sleep(REFUSED_DELAY).await;
                login_page(
                    401,
                    Some(&format!("Wrong key or secret, or not an admin key: {why}")),
                )
            }
            Ok(Err(why)) => login_page(
                503,
                Some(&format!(
                    "The server could not be asked to check the credential: {why}"
                )),
            ),
            Err(_) => login_page(500, Some("The credential check failed.")),
        }
    }
}
