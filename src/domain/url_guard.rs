//! Which URLs `POST /media/from-url` may fetch, decided from the text alone: no DNS, no network.
//!
//! The worker fetches through Cloudflare, which itself refuses names that resolve to private
//! destinations; this guard refuses everything that can be told from the URL's spelling — schemes,
//! credentials, ports, internal names and every literal form of a non-public address (decimal,
//! hex, octal, short, percent-encoded, full-width, v4-mapped, NAT64, 6to4, Teredo…).
//!
//! The WHATWG parser of the `url` crate already turns the odd IPv4 spellings into dotted form;
//! the guard relies on it, and a legacy (`inet_aton`) reader stands behind it for any name that
//! still ends in a number, so a change in the parser cannot open a hole. The caller must fetch
//! [`SafeUrl::as_str`], the normalised form that was checked, never the raw input.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::DomainError;

/// Ports a fetch may use. Only the defaults of http and https: media hosts serve there, and any
/// other port would let a caller use the fetcher to probe arbitrary services (SMTP, Redis, admin
/// panels) on public hosts. Media behind an unusual port can still be uploaded with a presign.
pub const ALLOWED_PORTS: [u16; 2] = [80, 443];

/// Name suffixes that never denote a public host (RFC 6761, RFC 6762, RFC 8375, ICANN's
/// name-collision list, `.internal` of the cloud metadata services). A name equal to one of them
/// or ending in `.<suffix>` is refused.
const INTERNAL_SUFFIXES: [&str; 13] = [
    "localhost",
    "local",
    "localdomain",
    "internal", // metadata.google.internal, *.ec2.internal, *.compute.internal
    "arpa",     // home.arpa, in-addr.arpa, ip6.arpa
    "lan",
    "intranet",
    "corp",
    "home",
    "private",
    "test",
    "invalid",
    "onion",
];

/// A URL that passed [`check`]: absolute http(s), no credentials, default port, public host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeUrl(Url);

impl SafeUrl {
    /// The normalised URL (fragment removed); fetch exactly this.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as serialised in the URL: a lowercase (punycode) name, a dotted IPv4 address or
    /// a bracketed IPv6 address.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    pub fn into_string(self) -> String {
        self.0.into()
    }
}

/// What a deployment admits beyond public http(s) hosts on the default ports, and what it
/// demands on top of them. The default admits nothing more and demands nothing more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowance {
    /// `127.0.0.1` and `localhost`, on any port (`OUTBOUND_ALLOW_LOOPBACK=1`, local work and
    /// tests only; never in production). Nothing else the guard refuses: not `::1`, not
    /// `127.0.0.2`, not a private address.
    pub loopback: bool,
    /// `https` only (webhook endpoints in production).
    pub https_only: bool,
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not an absolute URL the WHATWG parser accepts (includes IPv6 zone ids and overflowing
    /// numeric hosts).
    Malformed,
    /// A scheme other than http or https.
    Scheme,
    /// `http` where the deployment demands `https`.
    HttpsRequired,
    /// A user name or password before the host.
    Userinfo,
    /// A port other than 80 or 443.
    Port,
    /// A host that is not public.
    Host(HostRefusal),
}

/// Why a host is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRefusal {
    Empty,
    /// `localhost`, a single-label name or an internal suffix such as `.local` or `.internal`.
    InternalName,
    /// A name ending in a number that is not a valid IPv4 address in any spelling.
    AmbiguousNumber,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48.
    Private,
    /// 169.254/16 (cloud metadata), fe80::/10.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT.
    SharedAddressSpace,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0/8, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 240/4, 192.88.99/24, and IPv6 outside 2000::/3 or in reserved blocks.
    Reserved,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 192.0.0/24 and the rest of 2001::/23.
    IetfProtocol,
    /// A public IPv4 address written as IPv4-mapped, -compatible or -translated IPv6.
    Ipv4InIpv6,
    /// Teredo, 2001::/32: the tunnel hides the real destination.
    Teredo,
}

impl UrlRefusal {
    /// The reason, worded for the message of a 400 `URL_NOT_ALLOWED`.
    pub const fn problem(self) -> &'static str {
        match self {
            UrlRefusal::Malformed => "must be an absolute http or https URL",
            UrlRefusal::Scheme => "must use http or https",
            UrlRefusal::HttpsRequired => "must use https",
            UrlRefusal::Userinfo => "must not contain a user name or password",
            UrlRefusal::Port => "must use the default port (80 or 443)",
            UrlRefusal::Host(h) => h.problem(),
        }
    }
}

impl HostRefusal {
    pub const fn problem(self) -> &'static str {
        match self {
            HostRefusal::Empty => "must name a host",
            HostRefusal::InternalName => "must name a public host, not a local or internal name",
            HostRefusal::AmbiguousNumber => "host looks like a number but is not an IP address",
            HostRefusal::Loopback => "must not point at a loopback address",
            HostRefusal::Private => "must not point at a private address",
            HostRefusal::LinkLocal => "must not point at a link-local or metadata address",
            HostRefusal::SharedAddressSpace => "must not point at a carrier-grade NAT address",
            HostRefusal::Multicast => "must not point at a multicast address",
            HostRefusal::Unspecified => "must not point at an unspecified address",
            HostRefusal::Broadcast => "must not point at the broadcast address",
            HostRefusal::Reserved => "must not point at a reserved address",
            HostRefusal::Benchmarking => "must not point at a benchmarking address",
            HostRefusal::Documentation => "must not point at a documentation address",
            HostRefusal::IetfProtocol => "must not point at an IETF protocol address",
            HostRefusal::Ipv4InIpv6 => "must write an IPv4 address as IPv4, not inside IPv6",
            HostRefusal::Teredo => "must not point at a Teredo tunnel address",
        }
    }
}

impl std::fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.problem())
    }
}

impl From<UrlRefusal> for DomainError {
    fn from(r: UrlRefusal) -> Self {
        DomainError::new(r.problem())
    }
}

/// Parses `raw` as a WHATWG URL and decides whether it may be fetched.
pub fn check(raw: &str) -> Result<SafeUrl, UrlRefusal> {
    check_with(raw, Allowance::default())
}

/// [`check`], with what the deployment admits or demands besides.
pub fn check_with(raw: &str, allow: Allowance) -> Result<SafeUrl, UrlRefusal> {
    let url = Url::parse(raw).map_err(|_| UrlRefusal::Malformed)?;
    check_parsed(url, allow)
}

/// Resolves a redirect's `Location` (absolute or relative) against the URL that answered it, and
/// checks the result as [`check`] does.
pub fn check_redirect(base: &SafeUrl, location: &str) -> Result<SafeUrl, UrlRefusal> {
    check_redirect_with(base, location, Allowance::default())
}

/// [`check_redirect`] with an [`Allowance`].
pub fn check_redirect_with(
    base: &SafeUrl,
    location: &str,
    allow: Allowance,
) -> Result<SafeUrl, UrlRefusal> {
    let url = base.0.join(location).map_err(|_| UrlRefusal::Malformed)?;
    check_parsed(url, allow)
}

/// The two loopback hosts an [`Allowance`] may admit, spelled exactly so.
fn is_admissible_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(a)) => a == Ipv4Addr::LOCALHOST,
        _ => false,
    }
}

fn check_parsed(mut url: Url, allow: Allowance) -> Result<SafeUrl, UrlRefusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefusal::Scheme);
    }
    if allow.https_only && url.scheme() != "https" {
        return Err(UrlRefusal::HttpsRequired);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Userinfo);
    }
    if allow.loopback && is_admissible_loopback(&url) {
        url.set_fragment(None);
        return Ok(SafeUrl(url));
    }
    match url.host() {
        None => return Err(UrlRefusal::Host(HostRefusal::Empty)),
        Some(Host::Domain(name)) => check_name(name),
        Some(Host::Ipv4(a)) => v4_refusal(a).map_or(Ok(()), Err),
        Some(Host::Ipv6(a)) => v6_refusal(a).map_or(Ok(()), Err),
    }
    .map_err(UrlRefusal::Host)?;
    match url.port_or_known_default() {
        Some(p) if ALLOWED_PORTS.contains(&p) => {}
        _ => return Err(UrlRefusal::Port),
    }
    url.set_fragment(None);
    Ok(SafeUrl(url))
}

/// A host the parser left as a name: refuse internal names, and read anything that still ends
/// in a number as a legacy IPv4 spelling.
fn check_name(name: &str) -> Result<(), HostRefusal> {
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return Err(HostRefusal::Empty);
    }
    if let Some(parsed) = legacy_ipv4(name) {
        let a = parsed.map_err(|()| HostRefusal::AmbiguousNumber)?;
        return v4_refusal(a).map_or(Ok(()), Err);
    }
    let lower = name.to_ascii_lowercase();
    let internal = !lower.contains('.')
        || lower.contains('%')
        || INTERNAL_SUFFIXES.iter().any(|s| {
            lower == *s
                || lower
                    .strip_suffix(s)
                    .is_some_and(|rest| rest.ends_with('.'))
        });
    if internal {
        return Err(HostRefusal::InternalName);
    }
    Ok(())
}

/// The WHATWG/`inet_aton` IPv4 reading of a name: `None` when its last label is not a number
/// (so it is a name), `Some(Err)` when it ends in a number but is no valid address. Parts are
/// decimal, `0x` hex or `0`-prefixed octal; the last part fills the remaining bytes.
fn legacy_ipv4(name: &str) -> Option<Result<Ipv4Addr, ()>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let last = name.rsplit('.').next().unwrap_or_default();
    let is_number = |p: &str| {
        let p = p.to_ascii_lowercase();
        match p.strip_prefix("0x") {
            Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
            None => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
        }
    };
    if !is_number(last) {
        return None;
    }
    Some(parse_legacy_ipv4(name))
}

fn parse_legacy_ipv4(name: &str) -> Result<Ipv4Addr, ()> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 4 {
        return Err(());
    }
    let mut numbers = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = match p.get(..2) {
            Some("0x" | "0X") => (&p[2..], 16),
            _ if p.len() > 1 && p.starts_with('0') => (&p[1..], 8),
            _ => (*p, 10),
        };
        let n = if digits.is_empty() {
            if p.is_empty() {
                return Err(());
            }
            0
        } else {
            u64::from_str_radix(digits, radix).map_err(|_| ())?
        };
        numbers.push(n);
    }
    let (last, init) = numbers.split_last().ok_or(())?;
    if init.iter().any(|&n| n > 255) {
        return Err(());
    }
    let free_bits = 8 * (5 - numbers.len() as u32);
    if *last >= 1u64 << free_bits {
        return Err(());
    }
    let mut v = *last;
    for (i, n) in init.iter().enumerate() {
        v += n << (8 * (3 - i as u32));
    }
    Ok(Ipv4Addr::from(u32::try_from(v).map_err(|_| ())?))
}

/// Why an IPv4 address is not public, or `None` when it is.
fn v4_refusal(a: Ipv4Addr) -> Option<HostRefusal> {
    let [a0, a1, a2, _] = a.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
        u32::from(a) & mask == u32::from(Ipv4Addr::from(net)) & mask
    };
    Some(match () {
        _ if a0 == 0 => HostRefusal::Unspecified,
        _ if a0 == 10 || in_net([172, 16, 0, 0], 12) || (a0, a1) == (192, 168) => {
            HostRefusal::Private
        }
        _ if in_net([100, 64, 0, 0], 10) => HostRefusal::SharedAddressSpace,
        _ if a0 == 127 => HostRefusal::Loopback,
        _ if (a0, a1) == (169, 254) => HostRefusal::LinkLocal,
        _ if (a0, a1, a2) == (192, 0, 0) => HostRefusal::IetfProtocol,
        _ if [(192, 0, 2), (198, 51, 100), (203, 0, 113)].contains(&(a0, a1, a2)) => {
            HostRefusal::Documentation
        }
        _ if (a0, a1, a2) == (192, 88, 99) => HostRefusal::Reserved, // 6to4 relay anycast
        _ if in_net([198, 18, 0, 0], 15) => HostRefusal::Benchmarking,
        _ if a.is_broadcast() => HostRefusal::Broadcast,
        _ if a0 >= 240 => HostRefusal::Reserved,
        _ if a0 >= 224 => HostRefusal::Multicast,
        _ => return None,
    })
}

/// Why an IPv6 address is not public, or `None` when it is. Addresses that carry an IPv4 address
/// are judged by it (NAT64, 6to4) or refused outright (mapped, compatible, translated, Teredo).
fn v6_refusal(a: Ipv6Addr) -> Option<HostRefusal> {
    let s = a.segments();
    let v4_at = |i: usize| Ipv4Addr::from((u32::from(s[i]) << 16) | u32::from(s[i + 1]));
    let in_net = |net: [u16; 8], bits: u32| {
        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
        u128::from(a) & mask == u128::from(Ipv6Addr::from(net)) & mask
    };
    let embedded = |v4: Ipv4Addr| Some(v4_refusal(v4).unwrap_or(HostRefusal::Ipv4InIpv6));
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => Some(HostRefusal::Unspecified),
        [0, 0, 0, 0, 0, 0, 0, 1] => Some(HostRefusal::Loopback),
        // ::a.b.c.d (compatible), ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated)
        [0, 0, 0, 0, 0, 0, _, _]
        | [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _] => embedded(v4_at(6)),
        // 64:ff9b::/96, well-known NAT64 prefix: judged by the IPv4 address it reaches.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => v4_refusal(v4_at(6)),
        _ if in_net([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48) => Some(HostRefusal::Private),
        // 2002::/16, 6to4: judged by the IPv4 address of the relay.
        [0x2002, _, _, _, _, _, _, _] => v4_refusal(v4_at(1)),
        [0x2001, 0, _, _, _, _, _, _] => Some(HostRefusal::Teredo),
        [0x2001, 2, 0, _, _, _, _, _] => Some(HostRefusal::Benchmarking),
        [0x2001, 0xdb8, _, _, _, _, _, _] => Some(HostRefusal::Documentation),
        _ if in_net([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20) => Some(HostRefusal::Documentation),
        _ if in_net([0x2001, 0, 0, 0, 0, 0, 0, 0], 23) => Some(HostRefusal::IetfProtocol),
        _ if in_net([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10) => Some(HostRefusal::LinkLocal),
        _ if in_net([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10) => Some(HostRefusal::Private),
        _ if in_net([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7) => Some(HostRefusal::Private),
        _ if in_net([0xff00, 0, 0, 0, 0, 0, 0, 0], 8) => Some(HostRefusal::Multicast),
        _ if in_net([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16) => Some(HostRefusal::Reserved),
        // Global unicast is 2000::/3; everything else (100::/64 discard, ::/8 …) is reserved.
        _ if !in_net([0x2000, 0, 0, 0, 0, 0, 0, 0], 3) => Some(HostRefusal::Reserved),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::HostRefusal::*;
    use super::*;

    /// `Ok(normalised)` or the refusal, for every spelling the guard must handle.
    #[test]
    fn urls_are_allowed_or_refused() {
        type Want = Result<&'static str, UrlRefusal>;
        let h = UrlRefusal::Host;
        let cases: &[(&str, Want)] = &[
            // public, allowed
            ("https://example.com/a.png", Ok("https://example.com/a.png")),
            ("http://8.8.8.8/x.jpg", Ok("http://8.8.8.8/x.jpg")),
            (
                "https://[2606:4700::1111]/x",
                Ok("https://[2606:4700::1111]/x"),
            ),
            (
                "https://[2001:4860:4860::8888]/",
                Ok("https://[2001:4860:4860::8888]/"),
            ),
            ("HTTPS://EXAMPLE.COM/A.PNG", Ok("https://example.com/A.PNG")),
            (
                "https://example.com./a.png",
                Ok("https://example.com./a.png"),
            ),
            ("http://example.com:80/a", Ok("http://example.com/a")),
            ("https://example.com:443/a", Ok("https://example.com/a")),
            (
                "https://cdn.example.org/i.webp?w=1#top",
                Ok("https://cdn.example.org/i.webp?w=1"),
            ),
            ("https://例え.jp/a.png", Ok("https://xn--r8jz45g.jp/a.png")),
            (
                "https://localhost.example.com/",
                Ok("https://localhost.example.com/"),
            ),
            (
                "https://my.local.example.com/",
                Ok("https://my.local.example.com/"),
            ),
            ("http://1.1.1.1/", Ok("http://1.1.1.1/")),
            ("http://9.255.255.255/", Ok("http://9.255.255.255/")),
            ("http://11.0.0.1/", Ok("http://11.0.0.1/")),
            ("http://100.63.255.255/", Ok("http://100.63.255.255/")),
            ("http://100.128.0.1/", Ok("http://100.128.0.1/")),
            ("http://172.15.255.255/", Ok("http://172.15.255.255/")),
            ("http://172.32.0.1/", Ok("http://172.32.0.1/")),
            ("http://192.169.0.1/", Ok("http://192.169.0.1/")),
            ("http://198.20.0.1/", Ok("http://198.20.0.1/")),
            ("http://223.255.255.255/", Ok("http://223.255.255.255/")),
            ("http://134744072/", Ok("http://8.8.8.8/")),
            ("http://[2002:808:808::1]/", Ok("http://[2002:808:808::1]/")),
            (
                "http://[64:ff9b::8.8.8.8]/",
                Ok("http://[64:ff9b::808:808]/"),
            ),
            (
                "http:\\\\example.com\\a.png",
                Ok("http://example.com/a.png"),
            ),
            // scheme
            ("ftp://example.com/a.png", Err(UrlRefusal::Scheme)),
            ("file:///etc/passwd", Err(UrlRefusal::Scheme)),
            ("javascript:alert(1)", Err(UrlRefusal::Scheme)),
            (
                "data:image/png;base64,iVBORw0KGgo=",
                Err(UrlRefusal::Scheme),
            ),
            ("gopher://example.com/", Err(UrlRefusal::Scheme)),
            ("ws://example.com/", Err(UrlRefusal::Scheme)),
            ("blob:https://example.com/uuid", Err(UrlRefusal::Scheme)),
            // not a URL
            ("", Err(UrlRefusal::Malformed)),
            ("example.com/a.png", Err(UrlRefusal::Malformed)),
            ("//example.com/a.png", Err(UrlRefusal::Malformed)),
            ("http://", Err(UrlRefusal::Malformed)),
            ("http://[fe80::1%25eth0]/", Err(UrlRefusal::Malformed)),
            ("http://[::1%25lo]/", Err(UrlRefusal::Malformed)),
            ("http://4294967296/", Err(UrlRefusal::Malformed)),
            ("http://256.0.0.1/", Err(UrlRefusal::Malformed)),
            ("http://127.0.0.1%00/", Err(UrlRefusal::Malformed)),
            // userinfo
            ("http://user:pass@example.com/", Err(UrlRefusal::Userinfo)),
            ("http://user@example.com/", Err(UrlRefusal::Userinfo)),
            ("http://:pass@example.com/", Err(UrlRefusal::Userinfo)),
            ("http://example.com@127.0.0.1/", Err(UrlRefusal::Userinfo)),
            // port
            ("http://example.com:8080/", Err(UrlRefusal::Port)),
            ("https://example.com:8443/", Err(UrlRefusal::Port)),
            ("http://example.com:22/", Err(UrlRefusal::Port)),
            ("http://example.com:6379/", Err(UrlRefusal::Port)),
            ("http://example.com:0/", Err(UrlRefusal::Port)),
            // internal names
            ("http://localhost/", Err(h(InternalName))),
            ("http://LOCALHOST/", Err(h(InternalName))),
            ("http://localhost./", Err(h(InternalName))),
            ("http://localhost../", Err(h(InternalName))),
            ("http://%6c%6f%63%61%6c%68%6f%73%74/", Err(h(InternalName))),
            ("http://localhost%2e/", Err(h(InternalName))),
            ("http://ℓocalhost/", Err(h(InternalName))),
            ("http://api.localhost/", Err(h(InternalName))),
            ("http://printer.local/", Err(h(InternalName))),
            ("http://svc.cluster.local/", Err(h(InternalName))),
            ("http://metadata.google.internal/", Err(h(InternalName))),
            ("http://METADATA.GOOGLE.INTERNAL./", Err(h(InternalName))),
            ("http://ip-10-0-0-1.ec2.internal/", Err(h(InternalName))),
            ("http://router.home.arpa/", Err(h(InternalName))),
            ("http://1.0.0.127.in-addr.arpa/", Err(h(InternalName))),
            ("http://nas.lan/", Err(h(InternalName))),
            ("http://metadata/", Err(h(InternalName))),
            ("http://intranet/", Err(h(InternalName))),
            ("http://./", Err(h(Empty))),
            // loopback, every spelling
            ("http://127.0.0.1/", Err(h(Loopback))),
            ("http://127.0.0.1:80/", Err(h(Loopback))),
            ("http://127.0.0.1./", Err(h(Loopback))),
            ("http://127.255.255.254/", Err(h(Loopback))),
            ("http://2130706433/", Err(h(Loopback))),
            ("http://0x7f000001/", Err(h(Loopback))),
            ("http://0X7F000001/", Err(h(Loopback))),
            ("http://0x7f.0.0.1/", Err(h(Loopback))),
            ("http://0x7F.1/", Err(h(Loopback))),
            ("http://0177.0.0.1/", Err(h(Loopback))),
            ("http://0177.1/", Err(h(Loopback))),
            ("http://017700000001/", Err(h(Loopback))),
            ("http://0000177.0.0.01/", Err(h(Loopback))),
            ("http://127.1/", Err(h(Loopback))),
            ("http://127.0.1/", Err(h(Loopback))),
            ("http://0x7f.0.1/", Err(h(Loopback))),
            ("http://0x7f.0x0.0x0.0x1/", Err(h(Loopback))),
            ("http://127.000.000.001/", Err(h(Loopback))),
            ("http://%31%32%37.0.0.1/", Err(h(Loopback))),
            ("http://%30x7f000001/", Err(h(Loopback))),
            ("http://１２７.０.０.１/", Err(h(Loopback))),
            ("http://127。0。0。1/", Err(h(Loopback))),
            ("http://[::1]/", Err(h(Loopback))),
            ("http://[::1]:80/", Err(h(Loopback))),
            ("http://[0:0:0:0:0:0:0:1]/", Err(h(Loopback))),
            ("http://[::ffff:127.0.0.1]/", Err(h(Loopback))),
            ("http://[::ffff:7f00:1]/", Err(h(Loopback))),
            ("http://[::FFFF:7F00:0001]/", Err(h(Loopback))),
            ("http://[::127.0.0.1]/", Err(h(Loopback))),
            ("http://[::ffff:0:127.0.0.1]/", Err(h(Loopback))),
            ("http://[64:ff9b::127.0.0.1]/", Err(h(Loopback))),
            ("http://[2002:7f00:1::]/", Err(h(Loopback))),
            // unspecified, broadcast, reserved
            ("http://0.0.0.0/", Err(h(Unspecified))),
            ("http://0/", Err(h(Unspecified))),
            ("http://0.1.2.3/", Err(h(Unspecified))),
            ("http://[::]/", Err(h(Unspecified))),
            ("http://255.255.255.255/", Err(h(Broadcast))),
            ("http://4294967295/", Err(h(Broadcast))),
            ("http://0xffffffff/", Err(h(Broadcast))),
            ("http://240.0.0.1/", Err(h(Reserved))),
            ("http://255.255.255.254/", Err(h(Reserved))),
            ("http://192.88.99.1/", Err(h(Reserved))),
            ("http://[100::1]/", Err(h(Reserved))),
            ("http://[5f00::1]/", Err(h(Reserved))),
            ("http://[4000::1]/", Err(h(Reserved))),
            // private
            ("http://10.0.0.1/", Err(h(Private))),
            ("http://10.255.255.255/", Err(h(Private))),
            ("http://012.0.0.1/", Err(h(Private))),
            ("http://0xa.1/", Err(h(Private))),
            ("http://167772161/", Err(h(Private))),
            ("http://172.16.0.1/", Err(h(Private))),
            ("http://172.31.255.255/", Err(h(Private))),
            ("http://192.168.0.1/", Err(h(Private))),
            ("http://192.168.1/", Err(h(Private))),
            ("http://0xc0a80001/", Err(h(Private))),
            ("http://[fc00::1]/", Err(h(Private))),
            ("http://[fd00:ec2::254]/", Err(h(Private))),
            ("http://[fec0::1]/", Err(h(Private))),
            ("http://[::ffff:10.0.0.1]/", Err(h(Private))),
            ("http://[::ffff:c0a8:101]/", Err(h(Private))),
            ("http://[64:ff9b::10.0.0.1]/", Err(h(Private))),
            ("http://[64:ff9b:1::8.8.8.8]/", Err(h(Private))),
            ("http://[2002:c0a8:101::1]/", Err(h(Private))),
            ("http://[2002:ac10::]/", Err(h(Private))),
            // link-local and metadata
            (
                "http://169.254.169.254/latest/meta-data/",
                Err(h(LinkLocal)),
            ),
            ("http://169.254.0.1/", Err(h(LinkLocal))),
            ("http://2852039166/", Err(h(LinkLocal))),
            ("http://0xa9fea9fe/", Err(h(LinkLocal))),
            ("http://0xa9.0xfe.0xa9.0xfe/", Err(h(LinkLocal))),
            ("http://0251.0376.0251.0376/", Err(h(LinkLocal))),
            ("http://169.254.43518/", Err(h(LinkLocal))),
            ("http://[fe80::1]/", Err(h(LinkLocal))),
            ("http://[febf::1]/", Err(h(LinkLocal))),
            ("http://[::ffff:169.254.169.254]/", Err(h(LinkLocal))),
            ("http://[::ffff:a9fe:a9fe]/", Err(h(LinkLocal))),
            ("http://[64:ff9b::a9fe:a9fe]/", Err(h(LinkLocal))),
            ("http://[2002:a9fe:a9fe::]/", Err(h(LinkLocal))),
            // CGNAT (also Alibaba's 100.100.100.200 metadata)
            ("http://100.64.0.1/", Err(h(SharedAddressSpace))),
            ("http://100.127.255.255/", Err(h(SharedAddressSpace))),
            ("http://100.100.100.200/", Err(h(SharedAddressSpace))),
            // multicast
            ("http://224.0.0.1/", Err(h(Multicast))),
            ("http://239.255.255.250/", Err(h(Multicast))),
            ("http://[ff02::1]/", Err(h(Multicast))),
            ("http://[ff05::1:3]/", Err(h(Multicast))),
            // special-purpose blocks
            ("http://192.0.0.192/", Err(h(IetfProtocol))),
            ("http://192.0.2.1/", Err(h(Documentation))),
            ("http://198.51.100.7/", Err(h(Documentation))),
            ("http://203.0.113.9/", Err(h(Documentation))),
            ("http://[2001:db8::1]/", Err(h(Documentation))),
            ("http://[3fff::1]/", Err(h(Documentation))),
            ("http://198.18.0.1/", Err(h(Benchmarking))),
            ("http://198.19.255.255/", Err(h(Benchmarking))),
            ("http://[2001:2::1]/", Err(h(Benchmarking))),
            ("http://[2001:10::1]/", Err(h(IetfProtocol))),
            (
                "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
                Err(h(Teredo)),
            ),
            // public IPv4 hidden in IPv6
            ("http://[::ffff:8.8.8.8]/", Err(h(Ipv4InIpv6))),
            ("http://[::8.8.8.8]/", Err(h(Ipv4InIpv6))),
            ("http://[::ffff:0:8.8.8.8]/", Err(h(Ipv4InIpv6))),
        ];
        let mut failures = Vec::new();
        for (raw, want) in cases {
            let got = check(raw).map(|u| u.into_string());
            if got.as_deref().map_err(|e| *e) != *want {
                failures.push(format!("{raw:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(cases.len() >= 60);
    }

    #[test]
    fn safe_urls_expose_their_host() {
        let cases = [
            ("https://Example.COM/a.png", "example.com"),
            ("http://134744072/", "8.8.8.8"),
            ("https://[2606:4700::1111]/x", "[2606:4700::1111]"),
        ];
        for (raw, host) in cases {
            assert_eq!(check(raw).unwrap().host(), host, "{raw}");
        }
    }

    #[test]
    fn redirects_resolve_against_the_current_url_and_are_checked_again() {
        let base = check("https://cdn.example.com/img/a.png?x=1").unwrap();
        let cases: &[(&str, Result<&str, UrlRefusal>)] = &[
            ("b.png", Ok("https://cdn.example.com/img/b.png")),
            ("/b.png", Ok("https://cdn.example.com/b.png")),
            ("../b.png", Ok("https://cdn.example.com/b.png")),
            ("?y=2", Ok("https://cdn.example.com/img/a.png?y=2")),
            (
                "//other.example.net/c.jpg",
                Ok("https://other.example.net/c.jpg"),
            ),
            (
                "http://other.example.net/c.jpg",
                Ok("http://other.example.net/c.jpg"),
            ),
            ("//127.0.0.1/", Err(UrlRefusal::Host(Loopback))),
            ("http://169.254.169.254/", Err(UrlRefusal::Host(LinkLocal))),
            ("http://0x7f000001/", Err(UrlRefusal::Host(Loopback))),
            ("//[::1]/", Err(UrlRefusal::Host(Loopback))),
            ("//localhost/", Err(UrlRefusal::Host(InternalName))),
            ("//cdn.example.com:8080/", Err(UrlRefusal::Port)),
            ("//u:p@cdn.example.com/", Err(UrlRefusal::Userinfo)),
            ("file:///etc/passwd", Err(UrlRefusal::Scheme)),
            ("ftp://cdn.example.com/a", Err(UrlRefusal::Scheme)),
            ("http://[::1", Err(UrlRefusal::Malformed)),
        ];
        for (location, want) in cases {
            let got = check_redirect(&base, location).map(|u| u.into_string());
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{location}");
        }
    }

    /// The fallback reader, so a parser that stopped normalising numeric hosts stays closed.
    #[test]
    fn names_ending_in_a_number_are_read_as_legacy_ipv4() {
        type Reading = Option<Result<[u8; 4], ()>>;
        let cases: &[(&str, Reading)] = &[
            ("example.com", None),
            ("127.0.0.1.example", None),
            ("0x7f.example", None),
            ("127.0.0.1", Some(Ok([127, 0, 0, 1]))),
            ("127.0.0.1.", Some(Ok([127, 0, 0, 1]))),
            ("2130706433", Some(Ok([127, 0, 0, 1]))),
            ("0x7f000001", Some(Ok([127, 0, 0, 1]))),
            ("0X7F.1", Some(Ok([127, 0, 0, 1]))),
            ("0177.0.0.1", Some(Ok([127, 0, 0, 1]))),
            ("017700000001", Some(Ok([127, 0, 0, 1]))),
            ("127.1", Some(Ok([127, 0, 0, 1]))),
            ("127.0.1", Some(Ok([127, 0, 0, 1]))),
            ("0x7f.0.0.01", Some(Ok([127, 0, 0, 1]))),
            ("169.254.43518", Some(Ok([169, 254, 169, 254]))),
            ("0x", Some(Ok([0, 0, 0, 0]))),
            ("0", Some(Ok([0, 0, 0, 0]))),
            ("4294967295", Some(Ok([255, 255, 255, 255]))),
            ("4294967296", Some(Err(()))),
            ("256.0.0.1", Some(Err(()))),
            ("1.2.3.4.5", Some(Err(()))),
            ("1..2", Some(Err(()))),
            ("09.0.0.1", Some(Err(()))),
            ("foo.1", Some(Err(()))),
            ("127.0.0.256", Some(Err(()))),
        ];
        for (name, want) in cases {
            let got = legacy_ipv4(name).map(|r| r.map(|a| a.octets()));
            assert_eq!(got, *want, "{name}");
        }
        // and the name path refuses them too
        assert_eq!(check_name("0x7f.1"), Err(Loopback));
        assert_eq!(check_name("10.1"), Err(Private));
        assert_eq!(check_name("99999999999"), Err(AmbiguousNumber));
        assert_eq!(check_name("8.8.8.8"), Ok(()));
    }

    #[test]
    fn the_loopback_allowance_admits_two_hosts_on_any_port_and_nothing_else() {
        let local = Allowance {
            loopback: true,
            https_only: false,
        };
        for ok in [
            "http://127.0.0.1:2583/xrpc/x",
            "http://localhost:8080/",
            "https://LOCALHOST/",
            "http://127.0.0.1/",
        ] {
            assert!(check_with(ok, local).is_ok(), "{ok}");
            assert!(check(ok).is_err(), "without the allowance: {ok}");
        }
        for (refused, why) in [
            (
                "http://[::1]:8080/",
                UrlRefusal::Host(HostRefusal::Loopback),
            ),
            ("http://127.0.0.2/", UrlRefusal::Host(HostRefusal::Loopback)),
            ("http://10.0.0.1/", UrlRefusal::Host(HostRefusal::Private)),
            (
                "http://169.254.169.254/",
                UrlRefusal::Host(HostRefusal::LinkLocal),
            ),
            (
                "http://a.localhost:8080/",
                UrlRefusal::Host(HostRefusal::InternalName),
            ),
            ("http://user@127.0.0.1:1/", UrlRefusal::Userinfo),
            ("ftp://127.0.0.1/", UrlRefusal::Scheme),
            ("http://example.com:8080/", UrlRefusal::Port),
        ] {
            assert_eq!(check_with(refused, local).unwrap_err(), why, "{refused}");
        }
        // Another spelling of 127.0.0.1 is 127.0.0.1 once the parser has normalised it.
        assert_eq!(
            check_with("http://2130706433:9/", local).unwrap().as_str(),
            "http://127.0.0.1:9/"
        );
    }

    #[test]
    fn https_only_refuses_plain_http_even_on_loopback() {
        let strict = Allowance {
            loopback: false,
            https_only: true,
        };
        assert!(check_with("https://example.com/hook", strict).is_ok());
        assert_eq!(
            check_with("http://example.com/hook", strict).unwrap_err(),
            UrlRefusal::HttpsRequired
        );
        let both = Allowance {
            loopback: true,
            https_only: true,
        };
        assert_eq!(
            check_with("http://127.0.0.1:9/hook", both).unwrap_err(),
            UrlRefusal::HttpsRequired
        );
    }

    #[test]
    fn every_refusal_has_a_problem() {
        let all = [
            UrlRefusal::Malformed,
            UrlRefusal::Scheme,
            UrlRefusal::Userinfo,
            UrlRefusal::Port,
            UrlRefusal::Host(Empty),
            UrlRefusal::Host(InternalName),
            UrlRefusal::Host(AmbiguousNumber),
            UrlRefusal::Host(Loopback),
            UrlRefusal::Host(Private),
            UrlRefusal::Host(LinkLocal),
            UrlRefusal::Host(SharedAddressSpace),
            UrlRefusal::Host(Multicast),
            UrlRefusal::Host(Unspecified),
            UrlRefusal::Host(Broadcast),
            UrlRefusal::Host(Reserved),
            UrlRefusal::Host(Benchmarking),
            UrlRefusal::Host(Documentation),
            UrlRefusal::Host(IetfProtocol),
            UrlRefusal::Host(Ipv4InIpv6),
            UrlRefusal::Host(Teredo),
        ];
        let problems: std::collections::HashSet<_> = all.iter().map(|r| r.problem()).collect();
        assert_eq!(problems.len(), all.len(), "problems are distinct");
        assert_eq!(
            DomainError::from(UrlRefusal::Port).0,
            UrlRefusal::Port.problem()
        );
        assert_eq!(UrlRefusal::Scheme.to_string(), "must use http or https");
    }
}
