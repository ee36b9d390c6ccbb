//! Which proxy requests go through. Read from the environment as curl and most tools read it:
//! `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` (either case, in that order), with `NO_PROXY`
//! naming the hosts that go direct.

use ureq::Proxy;

/// The proxy the environment names, if any; an unparsable setting is ignored.
pub fn from_env() -> Option<Proxy> {
    Proxy::try_from_env()
}
